//! SMTP submission with `lettre` (tokio + rustls): one connection per message.

use super::{Endpoint, Inner, MailAuth, Security};
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use salesagent_core::model::OutgoingMessage;
use salesagent_core::{Error, Result};
use secrecy::{ExposeSecret, SecretString};

/// Maps a `lettre` SMTP error: 5xx on the message or a recipient is `InvalidInput` (refused),
/// 535 and the like during login `Unauthenticated`, 4xx and network failures `Unavailable`,
/// deadlines `Timeout`.
fn smtp_err(e: &lettre::transport::smtp::Error) -> Error {
    let code = e.status().map(|c| c.to_string());
    if e.is_timeout() {
        return Error::timeout("smtp submission");
    }
    if e.is_permanent() {
        if matches!(code.as_deref(), Some("530" | "534" | "535" | "538")) {
            return Error::unauthenticated(format!("smtp login refused: {e}"));
        }
        return Error::invalid("message", format!("smtp server refused it: {e}"));
    }
    if e.is_transient() {
        return Error::unavailable(format!("smtp server deferred it: {e}"));
    }
    if e.to_string().contains("authentication") {
        return Error::unauthenticated(format!("smtp login: {e}"));
    }
    Error::unavailable(format!("smtp: {e}"))
}

fn address(a: &salesagent_core::model::EmailAddress) -> Result<Address> {
    a.to_string()
        .parse()
        .map_err(|e| Error::invalid("address", format!("{a}: {e}")))
}

fn transport(
    endpoint: &Endpoint,
    credentials: Option<(Credentials, Mechanism)>,
    inner: &Inner,
) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
    let params = || -> Result<TlsParameters> {
        let mut b = TlsParameters::builder(endpoint.host.clone());
        for pem in &inner.extra_roots {
            let cert =
                Certificate::from_pem(pem).map_err(|e| Error::invalid("ca_file", e.to_string()))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls()
            .map_err(|e| Error::invalid("smtp tls", e.to_string()))
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host.clone())
        .port(endpoint.port)
        .timeout(Some(inner.timeout));
    b = match endpoint.security {
        Security::Tls => b.tls(Tls::Wrapper(params()?)),
        Security::StartTls => b.tls(Tls::Required(params()?)),
        Security::Plain => b.tls(Tls::None),
    };
    if let Some((c, m)) = credentials {
        b = b.credentials(c).authentication(vec![m]);
    }
    Ok(b.build())
}

fn credentials(
    auth: Option<&MailAuth>,
    secret: Option<&SecretString>,
) -> Option<(Credentials, Mechanism)> {
    match (auth, secret) {
        (Some(MailAuth::Password { username, .. }), Some(s)) => Some((
            Credentials::new(username.clone(), s.expose_secret().to_owned()),
            Mechanism::Plain,
        )),
        (Some(MailAuth::XOAuth2 { username, .. }), Some(s)) => Some((
            Credentials::new(username.clone(), s.expose_secret().to_owned()),
            Mechanism::Xoauth2,
        )),
        _ => None,
    }
}

/// The password, or a current access token.
async fn secret(auth: Option<&MailAuth>) -> Result<Option<SecretString>> {
    Ok(match auth {
        Some(MailAuth::Password { password, .. }) => Some(password.clone()),
        Some(MailAuth::XOAuth2 { token, .. }) => Some(token.bearer().await?),
        None => None,
    })
}

/// Submits `message` (its raw bytes as they are) to the SMTP server.
pub(crate) async fn submit(inner: &Inner, message: &OutgoingMessage) -> Result<()> {
    let from = address(&message.from)?;
    let to = message.to.iter().map(address).collect::<Result<Vec<_>>>()?;
    let envelope =
        Envelope::new(Some(from), to).map_err(|e| Error::invalid("to", e.to_string()))?;
    let auth = inner.smtp_auth.as_ref();
    let secret = secret(auth).await?;
    let t = transport(&inner.smtp, credentials(auth, secret.as_ref()), inner)?;
    match t.send_raw(&envelope, &message.raw).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let mapped = smtp_err(&e);
            // An OAuth token refused at login (nothing was submitted): refresh once and retry.
            if let (Error::Unauthenticated { .. }, Some(MailAuth::XOAuth2 { token, .. }), Some(s)) =
                (&mapped, auth, secret.as_ref())
            {
                token.refresh_after_rejection(s).await?;
                let fresh = token.bearer().await?;
                let t = transport(&inner.smtp, credentials(auth, Some(&fresh)), inner)?;
                return t
                    .send_raw(&envelope, &message.raw)
                    .await
                    .map(|_| ())
                    .map_err(|e| smtp_err(&e));
            }
            Err(mapped)
        }
    }
}

/// Logs in to the SMTP server and says goodbye (the health check).
pub(crate) async fn check(inner: &Inner) -> Result<()> {
    let auth = inner.smtp_auth.as_ref();
    let secret = secret(auth).await?;
    let t = transport(&inner.smtp, credentials(auth, secret.as_ref()), inner)?;
    match t.test_connection().await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::unavailable("smtp server did not answer NOOP")),
        Err(e) => Err(smtp_err(&e)),
    }
}
