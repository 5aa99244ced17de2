//! `auth google [--account EMAIL] [--status]`: authorises the Google account the Gmail, Drive
//! and Calendar connectors act for. It prints the consent URL (with PKCE and a random state),
//! reads the redirect URL (or the bare code) the browser ended on from standard input,
//! exchanges it for tokens and stores them encrypted in the store; from then on the
//! connectors refresh them ahead of expiry. Needs `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`
//! and `GOOGLE_REDIRECT_URI` (the token endpoint can be moved with `GOOGLE_TOKEN_URL`).
//!
//! `auth mail [--account EMAIL]` does the same for the IMAP + SMTP mailbox's `XOAUTH2` login,
//! with the provider of `OAUTH_PROVIDER` (Microsoft 365 or Google) and its mail scopes.

use crate::Failure;
use salesagent_connectors::google_oauth::{GoogleOAuthBuilder, code_from_redirect, scopes};
use salesagent_core::ports::{DynClock, DynStore, SecretStore};
use std::sync::Arc;
use tokio::io::AsyncBufReadExt as _;

/// Services the CLI can authorise.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuthCommand {
    /// The Google account (Gmail, Drive, Calendar).
    Google {
        /// The account to authorise (default: the sender of `sender.json`).
        #[arg(long)]
        account: Option<String>,
        /// Only say whether the account holds tokens and whether it needs re-authorisation.
        #[arg(long)]
        status: bool,
    },
    /// The IMAP + SMTP mailbox's `XOAUTH2` tokens, from the provider of `OAUTH_PROVIDER`
    /// (`microsoft`: `MICROSOFT_CLIENT_ID`, `MICROSOFT_CLIENT_SECRET`, `MICROSOFT_REDIRECT_URI`,
    /// `MICROSOFT_TENANT`; `google`: the `GOOGLE_*` client), with the provider's mail scopes.
    Mail {
        /// The mailbox to authorise (the IMAP user; default: the sender).
        #[arg(long)]
        account: Option<String>,
    },
}

/// Runs `auth …`; `default_account` is the sender's address.
///
/// # Errors
/// Missing OAuth settings, a refused consent, a redirect whose state does not match, a failed
/// code exchange, store failures.
pub async fn run(
    cmd: &AuthCommand,
    store: DynStore,
    clock: DynClock,
    default_account: &str,
) -> Result<(), Failure> {
    let (account, status) = match cmd {
        AuthCommand::Google { account, status } => (account, status),
        AuthCommand::Mail { account } => {
            let account = account.as_deref().unwrap_or(default_account);
            return mail(store, clock, account).await;
        }
    };
    let account = account.as_deref().unwrap_or(default_account);
    let builder = GoogleOAuthBuilder::from_env();
    if !builder.is_configured() {
        return Err(Failure::input(
            "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET (and GOOGLE_REDIRECT_URI) must be set",
        ));
    }
    let secrets: Arc<dyn SecretStore> = store;
    if *status {
        match secrets.token(account).await? {
            None => out!("{account}: not authorised yet"),
            Some(t) if t.needs_reauth => {
                out!("{account}: needs re-authorisation (run `auth google` again)");
            }
            Some(t) => out!(
                "{account}: authorised (refresh token {})",
                if t.refresh_token.is_some() {
                    "stored"
                } else {
                    "missing"
                }
            ),
        }
        return Ok(());
    }
    let oauth = builder.with_clock(clock).build(secrets)?;
    let request = oauth.authorization_url(scopes::ALL)?;
    eprintln!("Open this URL in a browser, consent, then paste the URL you were redirected to:");
    eprintln!("{}", request.url);
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .map_err(|e| Failure::runtime(format!("reading the redirect URL: {e}")))?;
    let code = code_from_redirect(&line, &request.state)?;
    let token = oauth
        .exchange_code(account, &code, &request.pkce_verifier)
        .await?;
    out!(
        "{account}: authorised (scopes: {}; refresh token {})",
        if token.scopes.is_empty() {
            "as granted".to_owned()
        } else {
            token.scopes.join(" ")
        },
        if token.refresh_token.is_some() {
            "stored"
        } else {
            "missing: revoke the app's access in the Google account and authorise again"
        }
    );
    Ok(())
}

/// `auth mail`: consent with the provider of `OAUTH_PROVIDER` for the IMAP + SMTP scopes.
async fn mail(store: DynStore, clock: DynClock, account: &str) -> Result<(), Failure> {
    use salesagent_connectors::oauth_provider::OAuthProvider;
    let var = |k: &str| std::env::var(k).ok();
    let provider = OAuthProvider::from_lookup(&var)?;
    let builder = provider.client(&var);
    if !builder.is_configured() {
        return Err(Failure::input(format!(
            "the {} OAuth client is not configured (see `auth mail --help`)",
            provider.name
        )));
    }
    let secrets: Arc<dyn SecretStore> = store;
    let oauth = builder.with_clock(clock).build(secrets)?;
    let request = oauth.authorization_url(&provider.scopes())?;
    eprintln!("Open this URL in a browser, consent, then paste the URL you were redirected to:");
    eprintln!("{}", request.url);
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .map_err(|e| Failure::runtime(format!("reading the redirect URL: {e}")))?;
    let code = code_from_redirect(&line, &request.state)?;
    let token = oauth
        .exchange_code(account, &code, &request.pkce_verifier)
        .await?;
    out!(
        "{account}: authorised with {} for IMAP and SMTP (refresh token {})",
        provider.name,
        if token.refresh_token.is_some() {
            "stored"
        } else {
            "missing"
        }
    );
    Ok(())
}
