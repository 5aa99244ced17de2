//! Token exchange and refresh through the `oauth2` crate, sent with our `reqwest` client.

use super::model::AuthorizationRequest;
use super::{GoogleOAuth, Inner, REFRESH_SKEW};
use crate::http::Authorizer;
use async_trait::async_trait;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use salesagent_core::model::OAuthToken;
use salesagent_core::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, Mutex};

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;
type TokenError =
    RequestTokenError<std::io::Error, oauth2::StandardErrorResponse<BasicErrorResponseType>>;

impl Inner {
    fn client(&self) -> Result<Client> {
        let bad = |f: &'static str| move |e: url::ParseError| Error::invalid(f, e.to_string());
        Ok(BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            // Google's own libraries send the client credentials as form fields.
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(AuthUrl::new(self.auth_url.clone()).map_err(bad("GOOGLE_AUTH_URL"))?)
            .set_token_uri(TokenUrl::new(self.token_url.clone()).map_err(bad("GOOGLE_TOKEN_URL"))?)
            .set_redirect_uri(
                RedirectUrl::new(self.redirect_uri.clone()).map_err(bad("GOOGLE_REDIRECT_URI"))?,
            ))
    }

    /// Sends one oauth2 request through our client (no redirects); 5xx becomes a transport error.
    async fn send(
        http: reqwest::Client,
        req: HttpRequest,
    ) -> std::result::Result<HttpResponse, std::io::Error> {
        let (parts, body) = req.into_parts();
        let resp = http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                std::io::Error::other(if e.is_timeout() {
                    "timed out"
                } else {
                    "transport error"
                })
            })?;
        let status = resp.status();
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            return Err(std::io::Error::other(format!(
                "token endpoint answered {status}"
            )));
        }
        let headers = resp.headers().clone();
        let bytes = resp
            .bytes()
            .await
            .map_err(|_| std::io::Error::other("reading the token response"))?;
        let mut out = oauth2::http::Response::builder().status(status);
        for (k, v) in &headers {
            out = out.header(k, v);
        }
        out.body(bytes.to_vec()).map_err(std::io::Error::other)
    }

    fn token_from(
        &self,
        account: &str,
        resp: &oauth2::basic::BasicTokenResponse,
        previous: Option<&OAuthToken>,
    ) -> OAuthToken {
        let now = self.clock.now();
        OAuthToken {
            account: account.to_owned(),
            access_token: SecretString::from(resp.access_token().secret().clone()),
            refresh_token: resp
                .refresh_token()
                .map(|r| SecretString::from(r.secret().clone()))
                // Google usually omits it on refresh: keep the old one.
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            expires_at: resp
                .expires_in()
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| now + d),
            scopes: resp
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect())
                .or_else(|| previous.map(|p| p.scopes.clone()))
                .unwrap_or_default(),
            needs_reauth: false,
        }
    }
}

/// Token-endpoint error codes that mean "try again later" (OAUTH.md, "Retry rule"): matched
/// against `error` and `error_description`.
const TRANSIENT_TOKEN_ERRORS: [&str; 3] = [
    "internal_failure",
    "server_error",
    "temporarily_unavailable",
];

/// Maps a token-endpoint failure; the flag is true when the refresh token is dead (re-consent).
/// Per OAUTH.md: 5xx/408/429 answers (see `Inner::send`) and `server_error`,
/// `temporarily_unavailable` or `internal_failure` are `Unavailable` (retryable; the account is
/// not marked); `invalid_grant` needs re-authorisation; every other code is `Unauthenticated`.
fn map_token_error(e: &TokenError, account: &str) -> (Error, bool) {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let what = r.error().to_string();
            let transient = TRANSIENT_TOKEN_ERRORS.contains(&what.as_str())
                || r.error_description()
                    .is_some_and(|d| TRANSIENT_TOKEN_ERRORS.contains(&d.trim()));
            if transient {
                return (
                    Error::unavailable(format!("google token endpoint: {what} (retry later)")),
                    false,
                );
            }
            match r.error() {
                BasicErrorResponseType::InvalidGrant => (
                    Error::unauthenticated(format!(
                        "google account {account} needs re-authorisation (invalid_grant)"
                    )),
                    true,
                ),
                _ => (
                    Error::unauthenticated(format!("google token endpoint refused: {what}")),
                    false,
                ),
            }
        }
        RequestTokenError::Request(io) => (
            Error::unavailable(format!("google token endpoint: {io}")),
            false,
        ),
        RequestTokenError::Parse(_, _) => (
            Error::backend("google token endpoint: unexpected response"),
            false,
        ),
        RequestTokenError::Other(o) => {
            (Error::backend(format!("google token endpoint: {o}")), false)
        }
    }
}

impl GoogleOAuth {
    /// The consent URL for `scopes` with a PKCE challenge, a random state, offline access and
    /// a forced consent prompt (so Google returns a refresh token).
    pub fn authorization_url(&self, scopes: &[&str]) -> Result<AuthorizationRequest> {
        let client = self.inner.client()?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent")
            .url();
        Ok(AuthorizationRequest {
            url,
            state: state.secret().clone(),
            pkce_verifier: SecretString::from(verifier.secret().clone()),
        })
    }

    /// Exchanges the code from the redirect for tokens and stores them for `account`.
    pub async fn exchange_code(
        &self,
        account: &str,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<OAuthToken> {
        let client = self.inner.client()?;
        let http = self.inner.http.clone();
        let send = move |req: HttpRequest| Inner::send(http.clone(), req);
        let resp = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(&send)
            .await
            .map_err(|e| map_token_error(&e, account).0)?;
        let token = self.inner.token_from(account, &resp, None);
        self.inner.store.save_token(&token).await?;
        tracing::info!(account, "google account authorised");
        Ok(token)
    }
}

/// The tokens of one Google account, as an [`Authorizer`]. `Debug` shows only the account.
pub struct GoogleAccount {
    inner: Arc<Inner>,
    account: String,
    cached: Mutex<Option<OAuthToken>>,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GoogleAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleAccount")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl GoogleAccount {
    pub(crate) fn new(inner: Arc<Inner>, account: String) -> Self {
        Self {
            inner,
            account,
            cached: Mutex::new(None),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The account name.
    #[must_use]
    pub fn account(&self) -> &str {
        &self.account
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Option<OAuthToken>> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached token; the store is read when there is none or it awaits re-authorisation
    /// (which may have happened since, through [`GoogleOAuth::exchange_code`]).
    async fn current(&self) -> Result<OAuthToken> {
        if let Some(t) = self.cache().clone()
            && !t.needs_reauth
        {
            return Ok(t);
        }
        self.load().await
    }

    /// Reads the token from the store into the cache.
    async fn load(&self) -> Result<OAuthToken> {
        let t = self
            .inner
            .store
            .token(&self.account)
            .await?
            .ok_or_else(|| {
                Error::unauthenticated(format!("google account {} is not authorised", self.account))
            })?;
        *self.cache() = Some(t.clone());
        Ok(t)
    }

    fn due(&self, t: &OAuthToken) -> bool {
        let skew = chrono::Duration::from_std(REFRESH_SKEW).unwrap_or_default();
        t.expires_at
            .is_some_and(|e| e - skew <= self.inner.clock.now())
    }

    fn reauth_error(&self) -> Error {
        Error::unauthenticated(format!(
            "google account {} needs re-authorisation",
            self.account
        ))
    }

    /// True when the stored token was revoked and a human must authorise again.
    pub async fn needs_reauth(&self) -> Result<bool> {
        Ok(self.current().await?.needs_reauth)
    }

    /// Refreshes now (under the single-flight lock), unless `unless` says the current token
    /// is already good enough. Returns the token to use.
    async fn refresh_if(&self, unless: impl Fn(&OAuthToken) -> bool) -> Result<OAuthToken> {
        let _guard = self.refresh_lock.lock().await;
        // Read the store under the lock: another process (or a re-authorisation) may have
        // stored a newer token than the cached one.
        let current = self.load().await?;
        if current.needs_reauth {
            return Err(self.reauth_error());
        }
        if unless(&current) {
            return Ok(current);
        }
        let refresh = current
            .refresh_token
            .clone()
            .ok_or_else(|| self.reauth_error())?;
        let client = self.inner.client()?;
        let http = self.inner.http.clone();
        let send = move |req: HttpRequest| Inner::send(http.clone(), req);
        let rt = RefreshToken::new(refresh.expose_secret().to_owned());
        tracing::debug!(account = %self.account, "refreshing google access token");
        match client
            .exchange_refresh_token(&rt)
            .request_async(&send)
            .await
        {
            Ok(resp) => {
                let token = self.inner.token_from(&self.account, &resp, Some(&current));
                self.inner.store.save_token(&token).await?;
                *self.cache() = Some(token.clone());
                Ok(token)
            }
            Err(e) => {
                let (err, reauth) = map_token_error(&e, &self.account);
                if reauth {
                    let mut t = current;
                    t.needs_reauth = true;
                    self.inner.store.save_token(&t).await?;
                    *self.cache() = Some(t);
                    tracing::warn!(account = %self.account, "google refresh token rejected; re-authorisation needed");
                }
                Err(err)
            }
        }
    }

    /// A harmless check that the account has a usable token (refreshing when due).
    pub async fn check(&self) -> Result<()> {
        self.bearer().await.map(|_| ())
    }
}

#[async_trait]
impl Authorizer for GoogleAccount {
    async fn bearer(&self) -> Result<SecretString> {
        let t = self.current().await?;
        if t.needs_reauth {
            return Err(self.reauth_error());
        }
        if !self.due(&t) {
            return Ok(t.access_token);
        }
        // Someone else may refresh while we wait for the lock: then their token is not due.
        let t = self.refresh_if(|c| !self.due(c)).await?;
        Ok(t.access_token)
    }

    async fn refresh_after_rejection(&self, rejected: &SecretString) -> Result<()> {
        let rejected = rejected.expose_secret().to_owned();
        // Already replaced by a concurrent refresh? Then just retry with the new one.
        self.refresh_if(|c| c.access_token.expose_secret() != rejected)
            .await
            .map(|_| ())
    }
}
