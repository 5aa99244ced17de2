//! OAuth providers beyond Google: endpoints and mail scopes per provider, so the IMAP + SMTP
//! mailbox can log in with `XOAUTH2` to Microsoft 365 as well as Google Workspace.
//!
//! The authorization-code + PKCE flow, token storage in the `SecretStore` and the single-flight
//! refresh are the ones of [`google_oauth`](crate::google::oauth) (nothing there is specific to
//! Google but its default endpoints): an [`OAuthProvider`] only points that client at another
//! identity platform and names the scopes to ask for. The resulting
//! [`GoogleAccount`](crate::google::oauth::GoogleAccount) is an
//! [`Authorizer`](crate::http::Authorizer), which is what the IMAP mailbox takes.
//!
//! Environment: `OAUTH_PROVIDER` = `google` (default) or `microsoft`. Google reads the
//! `GOOGLE_*` variables of [`GoogleOAuthBuilder`]; Microsoft reads `MICROSOFT_CLIENT_ID`,
//! `MICROSOFT_CLIENT_SECRET`, `MICROSOFT_REDIRECT_URI` and `MICROSOFT_TENANT` (a tenant id or
//! domain, or `common` / `organizations`; default `organizations`), with `MICROSOFT_AUTH_URL` /
//! `MICROSOFT_TOKEN_URL` overriding the endpoints (tests).

use crate::google::oauth::{GoogleOAuthBuilder, endpoints as google_endpoints};
use salesagent_core::{Error, Result};

/// Google's mail scope for IMAP and SMTP (`XOAUTH2`).
pub const GOOGLE_MAIL_SCOPE: &str = "https://mail.google.com/";
/// Microsoft 365: IMAP access as the signed-in user.
pub const MICROSOFT_IMAP_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
/// Microsoft 365: SMTP AUTH submission as the signed-in user.
pub const MICROSOFT_SMTP_SCOPE: &str = "https://outlook.office.com/SMTP.Send";
/// Microsoft identity platform: ask for a refresh token.
pub const MICROSOFT_OFFLINE_SCOPE: &str = "offline_access";

/// Microsoft 365's mail servers (IMAP over TLS, SMTP submission with STARTTLS).
pub mod microsoft_servers {
    /// `IMAP_URL` host.
    pub const IMAP_HOST: &str = "outlook.office365.com";
    /// `SMTP_URL` host.
    pub const SMTP_HOST: &str = "smtp.office365.com";
}

/// An identity platform: where to send the user and where to exchange codes, and the scopes
/// that allow IMAP + SMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthProvider {
    /// `google` or `microsoft`.
    pub name: &'static str,
    /// Authorization endpoint.
    pub auth_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Scopes for IMAP and SMTP with `XOAUTH2` (and a refresh token).
    pub mail_scopes: Vec<&'static str>,
}

impl OAuthProvider {
    /// Google (Gmail / Google Workspace over IMAP and SMTP).
    #[must_use]
    pub fn google() -> Self {
        Self {
            name: "google",
            auth_url: google_endpoints::AUTH_URL.to_owned(),
            token_url: google_endpoints::TOKEN_URL.to_owned(),
            mail_scopes: vec![GOOGLE_MAIL_SCOPE],
        }
    }

    /// Microsoft's identity platform (v2.0 endpoints) for `tenant`: a tenant id or domain,
    /// `organizations` (any work or school account) or `common`.
    #[must_use]
    pub fn microsoft(tenant: &str) -> Self {
        let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
        Self {
            name: "microsoft",
            auth_url: format!("{base}/authorize"),
            token_url: format!("{base}/token"),
            mail_scopes: vec![
                MICROSOFT_IMAP_SCOPE,
                MICROSOFT_SMTP_SCOPE,
                MICROSOFT_OFFLINE_SCOPE,
            ],
        }
    }

    /// The provider named by `OAUTH_PROVIDER` (see the module).
    ///
    /// # Errors
    /// `InvalidInput` for an unknown provider name.
    pub fn from_lookup(var: &impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let name = get("OAUTH_PROVIDER").unwrap_or_else(|| "google".to_owned());
        let mut p = match name.trim().to_ascii_lowercase().as_str() {
            "google" => Self::google(),
            "microsoft" | "microsoft365" | "m365" | "outlook" => Self::microsoft(
                get("MICROSOFT_TENANT")
                    .as_deref()
                    .unwrap_or("organizations")
                    .trim(),
            ),
            _ => {
                return Err(Error::invalid(
                    "OAUTH_PROVIDER",
                    "must be google or microsoft",
                ));
            }
        };
        if p.name == "microsoft" {
            if let Some(u) = get("MICROSOFT_AUTH_URL") {
                p.auth_url = u;
            }
            if let Some(u) = get("MICROSOFT_TOKEN_URL") {
                p.token_url = u;
            }
        }
        Ok(p)
    }

    /// The OAuth client for this provider: Google's reads `GOOGLE_*`, Microsoft's reads
    /// `MICROSOFT_CLIENT_ID`, `MICROSOFT_CLIENT_SECRET`, `MICROSOFT_REDIRECT_URI`. Build it with
    /// the `SecretStore`, then `authorization_url(&provider.scopes())`, `exchange_code` and
    /// `account(address)` as for Google.
    #[must_use]
    pub fn client(&self, var: &impl Fn(&str) -> Option<String>) -> GoogleOAuthBuilder {
        let b = if self.name == "google" {
            GoogleOAuthBuilder::from_lookup(var)
        } else {
            let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
            let mut b = GoogleOAuthBuilder::default();
            if let (Some(id), Some(secret)) =
                (get("MICROSOFT_CLIENT_ID"), get("MICROSOFT_CLIENT_SECRET"))
            {
                b = b.with_client(id, secret);
            }
            if let Some(uri) = get("MICROSOFT_REDIRECT_URI") {
                b = b.with_redirect_uri(uri);
            }
            b
        };
        b.with_auth_url(self.auth_url.clone())
            .with_token_url(self.token_url.clone())
    }

    /// The mail scopes, as `authorization_url` takes them.
    #[must_use]
    pub fn scopes(&self) -> Vec<&str> {
        self.mail_scopes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let g = OAuthProvider::from_lookup(&env(&[])).unwrap();
        assert_eq!(g, OAuthProvider::google());
        let m = OAuthProvider::from_lookup(&env(&[
            ("OAUTH_PROVIDER", "microsoft"),
            ("MICROSOFT_TENANT", "contoso.onmicrosoft.com"),
        ]))
        .unwrap();
        assert_eq!(
            m.token_url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert!(m.scopes().contains(&MICROSOFT_IMAP_SCOPE));
        assert!(m.scopes().contains(&"offline_access"));
        let err = OAuthProvider::from_lookup(&env(&[("OAUTH_PROVIDER", "yahoo")])).unwrap_err();
        assert_eq!(err.kind(), "invalid_input");
        let client = m.client(&env(&[
            ("MICROSOFT_CLIENT_ID", "id"),
            ("MICROSOFT_CLIENT_SECRET", "secret"),
            (
                "MICROSOFT_REDIRECT_URI",
                "http://localhost:8080/oauth/callback",
            ),
        ]));
        assert!(client.is_configured());
        assert!(!format!("{client:?}").contains("\"secret\""));
    }
}
