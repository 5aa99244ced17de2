//! Building an [`ImapMailbox`] from `IMAP_URL` / `SMTP_URL` or by hand.

use super::{Endpoint, Folders, ImapMailbox, Inner, MailAuth, Security, SentCopy};
use crate::http::Authorizer;
use salesagent_core::{Error, Result};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// Default deadline of one IMAP command or SMTP submission.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Builder of [`ImapMailbox`].
///
/// From URLs ([`ImapBuilder::from_urls`], [`ImapBuilder::from_env`]):
/// - `IMAP_URL`: `imaps://USER:PASSWORD@HOST[:993]` (TLS), `imap://…[:143]` (STARTTLS), or
///   `imap://…?tls=none` (no TLS; local servers only). User and password are percent-encoded
///   (`ann%40example.com`). `?auth=xoauth2` logs in with an OAuth token instead of a password
///   (give the token source with [`ImapBuilder::with_xoauth2`]).
/// - `SMTP_URL`: `smtps://…[:465]` (TLS), `smtp://…[:587]` (STARTTLS), `smtp://…?tls=none`.
///   Without a user it logs in like IMAP; `?auth=none` submits without logging in.
/// - `IMAP_SENT_COPY`: `append` (default) or `server` (the server files sent mail itself).
/// - `IMAP_SENT_FOLDER`, `IMAP_DRAFTS_FOLDER`: folder names overriding RFC 6154 discovery.
/// - `IMAP_CA_FILE`: a PEM file of extra trusted certificates (a self-signed server).
#[derive(Debug, Clone, Default)]
pub struct ImapBuilder {
    imap: Option<Endpoint>,
    smtp: Option<Endpoint>,
    imap_auth: Option<PendingAuth>,
    smtp_auth: Option<Option<PendingAuth>>,
    token: Option<Arc<dyn Authorizer>>,
    sent_copy: SentCopy,
    folders: Folders,
    timeout: Option<Duration>,
    extra_roots: Vec<Vec<u8>>,
    error: Option<Error>,
}

/// Credentials from a URL, before the token source is known.
#[derive(Debug, Clone)]
enum PendingAuth {
    Password(String, SecretString),
    XOAuth2(String),
}

/// A parsed `imap[s]://` or `smtp[s]://` URL.
#[derive(Debug)]
struct Parsed {
    endpoint: Endpoint,
    auth: Option<PendingAuth>,
    no_auth: bool,
}

fn parse_url(field: &str, url: &str, smtp: bool) -> Result<Parsed> {
    let bad = |why: &str| Error::invalid(field.to_owned(), why.to_owned());
    let u = url::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    let (tls_scheme, plain_scheme, tls_port, starttls_port) = if smtp {
        ("smtps", "smtp", 465, 587)
    } else {
        ("imaps", "imap", 993, 143)
    };
    let query = |k: &str| {
        u.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let security = if u.scheme() == tls_scheme {
        Security::Tls
    } else if u.scheme() == plain_scheme {
        match query("tls").as_deref() {
            None | Some("starttls") => Security::StartTls,
            Some("none") => Security::Plain,
            Some(_) => return Err(bad("tls must be starttls or none")),
        }
    } else {
        return Err(bad(&format!(
            "expected a {tls_scheme}:// or {plain_scheme}:// URL"
        )));
    };
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = u.port().unwrap_or(if security == Security::Tls {
        tls_port
    } else {
        starttls_port
    });
    let decode = |s: &str| {
        percent_decode(s).ok_or_else(|| bad("user or password is not valid percent-encoding"))
    };
    let user = decode(u.username())?;
    let password = u.password().map(decode).transpose()?;
    let mechanism = query("auth");
    let auth = match (mechanism.as_deref(), user.is_empty()) {
        (Some("none"), _) | (None, true) => None,
        (Some("xoauth2"), false) => Some(PendingAuth::XOAuth2(user)),
        (Some("xoauth2"), true) => return Err(bad("auth=xoauth2 needs a user")),
        (None | Some("password" | "plain" | "login"), false) => {
            let password = password.ok_or_else(|| bad("has a user but no password"))?;
            Some(PendingAuth::Password(user, SecretString::from(password)))
        }
        (Some(_), _) => return Err(bad("auth must be password, xoauth2 or none")),
    };
    Ok(Parsed {
        endpoint: Endpoint {
            host,
            port,
            security,
        },
        auth,
        no_auth: mechanism.as_deref() == Some("none"),
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl ImapBuilder {
    /// Reads the variables listed on the type (`IMAP_URL` and `SMTP_URL` are required).
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`ImapBuilder::from_env`] with a custom variable lookup.
    #[must_use]
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let mut b = Self::from_urls(
            get("IMAP_URL").as_deref().unwrap_or_default(),
            get("SMTP_URL").as_deref().unwrap_or_default(),
        );
        if let Some(v) = get("IMAP_SENT_COPY") {
            match v.trim().to_ascii_lowercase().as_str() {
                "append" => b.sent_copy = SentCopy::Append,
                "server" => b.sent_copy = SentCopy::Server,
                _ => {
                    b.error.get_or_insert(Error::invalid(
                        "IMAP_SENT_COPY",
                        "must be append or server",
                    ));
                }
            }
        }
        b.folders.sent = get("IMAP_SENT_FOLDER");
        b.folders.drafts = get("IMAP_DRAFTS_FOLDER");
        if let Some(path) = get("IMAP_CA_FILE") {
            match std::fs::read(&path) {
                Ok(pem) => b.extra_roots.push(pem),
                Err(e) => {
                    b.error
                        .get_or_insert(Error::invalid("IMAP_CA_FILE", format!("{path}: {e}")));
                }
            }
        }
        b
    }

    /// The servers and credentials from an `IMAP_URL` and an `SMTP_URL` (see the type).
    #[must_use]
    pub fn from_urls(imap_url: &str, smtp_url: &str) -> Self {
        let mut b = Self::default();
        if imap_url.trim().is_empty() {
            b.error = Some(Error::invalid("IMAP_URL", "is not set"));
            return b;
        }
        if smtp_url.trim().is_empty() {
            b.error = Some(Error::invalid("SMTP_URL", "is not set"));
            return b;
        }
        match (
            parse_url("IMAP_URL", imap_url, false),
            parse_url("SMTP_URL", smtp_url, true),
        ) {
            (Ok(i), Ok(s)) => {
                if i.auth.is_none() {
                    b.error = Some(Error::invalid("IMAP_URL", "needs a user (and password)"));
                }
                b.imap = Some(i.endpoint);
                b.imap_auth = i.auth;
                b.smtp = Some(s.endpoint);
                b.smtp_auth = if s.no_auth {
                    Some(None)
                } else {
                    s.auth.map(Some)
                };
            }
            (Err(e), _) | (_, Err(e)) => b.error = Some(e),
        }
        b
    }

    /// The IMAP login name given so far (from the URL or by hand).
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        match self.imap_auth.as_ref()? {
            PendingAuth::Password(u, _) | PendingAuth::XOAuth2(u) => Some(u),
        }
    }

    /// Sets the IMAP server.
    #[must_use]
    pub fn with_imap(mut self, endpoint: Endpoint) -> Self {
        self.imap = Some(endpoint);
        self
    }

    /// Sets the SMTP server.
    #[must_use]
    pub fn with_smtp(mut self, endpoint: Endpoint) -> Self {
        self.smtp = Some(endpoint);
        self
    }

    /// Logs in to both servers with a password (or app password).
    #[must_use]
    pub fn with_password(mut self, username: impl Into<String>, password: SecretString) -> Self {
        let username = username.into();
        self.imap_auth = Some(PendingAuth::Password(username, password));
        self.smtp_auth = None;
        self
    }

    /// Logs in with `XOAUTH2`: `token` hands out the access tokens (e.g. a
    /// [`GoogleAccount`](crate::google::oauth::GoogleAccount) from an
    /// [`OAuthProvider`](crate::oauth_provider::OAuthProvider) client). With a URL, this is the
    /// token source of `?auth=xoauth2`; without one, it logs `username` in to both servers.
    #[must_use]
    pub fn with_xoauth2(mut self, username: Option<String>, token: Arc<dyn Authorizer>) -> Self {
        if let Some(u) = username {
            self.imap_auth = Some(PendingAuth::XOAuth2(u));
            self.smtp_auth = None;
        }
        self.token = Some(token);
        self
    }

    /// Who keeps the Sent copy (default [`SentCopy::Append`]).
    #[must_use]
    pub fn with_sent_copy(mut self, sent_copy: SentCopy) -> Self {
        self.sent_copy = sent_copy;
        self
    }

    /// Folder names overriding discovery.
    #[must_use]
    pub fn with_folders(mut self, folders: Folders) -> Self {
        self.folders = folders;
        self
    }

    /// Trusts the certificates in this PEM (besides the system's roots).
    #[must_use]
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(pem.into());
        self
    }

    /// Deadline of one IMAP command or SMTP submission (default 60 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn resolve(&self, pending: &PendingAuth) -> Result<MailAuth> {
        Ok(match pending {
            PendingAuth::Password(u, p) => MailAuth::Password {
                username: u.clone(),
                password: p.clone(),
            },
            PendingAuth::XOAuth2(u) => MailAuth::XOAuth2 {
                username: u.clone(),
                token: self.token.clone().ok_or_else(|| {
                    Error::invalid(
                        "auth",
                        "xoauth2 needs an OAuth token source (OAUTH_PROVIDER and its client)",
                    )
                })?,
            },
        })
    }

    /// Builds the mailbox (no connection yet: the first call connects). `InvalidInput` for a
    /// missing or malformed setting, naming it.
    pub fn build(self) -> Result<ImapMailbox> {
        if let Some(e) = self.error.clone() {
            return Err(e);
        }
        let imap = self
            .imap
            .clone()
            .ok_or_else(|| Error::invalid("IMAP_URL", "is not set"))?;
        let smtp = self
            .smtp
            .clone()
            .ok_or_else(|| Error::invalid("SMTP_URL", "is not set"))?;
        let imap_auth = self
            .imap_auth
            .as_ref()
            .ok_or_else(|| Error::invalid("IMAP_URL", "needs a user (and password)"))?;
        let imap_auth = self.resolve(imap_auth)?;
        let smtp_auth = match &self.smtp_auth {
            None => Some(imap_auth.clone()),
            Some(None) => None,
            Some(Some(p)) => Some(self.resolve(p)?),
        };
        // Fail early on a bad certificate file.
        super::conn::tls_config(&self.extra_roots)?;
        Ok(ImapMailbox {
            inner: Arc::new(Inner {
                imap,
                smtp,
                imap_auth,
                smtp_auth,
                sent_copy: self.sent_copy,
                folders: self.folders,
                timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
                extra_roots: self.extra_roots,
                conn: tokio::sync::Mutex::new(None),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let m = ImapBuilder::from_urls(
            "imaps://ann%40acme.example:p%40ss@imap.acme.example",
            "smtp://smtp.acme.example",
        )
        .build()
        .unwrap();
        assert_eq!(m.imap_endpoint().port, 993);
        assert_eq!(m.imap_endpoint().security, Security::Tls);
        assert_eq!(m.smtp_endpoint().port, 587);
        assert_eq!(m.smtp_endpoint().security, Security::StartTls);
        assert_eq!(m.username(), "ann@acme.example");
        assert!(
            !format!("{m:?}").contains("p@ss"),
            "Debug hides the password"
        );

        let local = ImapBuilder::from_urls(
            "imap://u:p@127.0.0.1:3143?tls=none",
            "smtp://127.0.0.1:3025?tls=none&auth=none",
        )
        .build()
        .unwrap();
        assert_eq!(local.imap_endpoint().security, Security::Plain);
        assert!(local.inner.smtp_auth.is_none());

        for (i, s, field) in [
            ("", "smtp://x", "IMAP_URL"),
            ("imap://u:p@x", "", "SMTP_URL"),
            ("http://u:p@x", "smtp://x", "IMAP_URL"),
            ("imap://x", "smtp://x", "IMAP_URL"),
            ("imap://u@x", "smtp://x", "IMAP_URL"),
            ("imap://u:p@x?tls=maybe", "smtp://x", "IMAP_URL"),
            ("imap://u@x?auth=xoauth2", "smtp://x", "auth"),
        ] {
            let err = ImapBuilder::from_urls(i, s).build().unwrap_err();
            assert_eq!(err.kind(), "invalid_input", "{i} {s}");
            assert!(err.to_string().contains(field), "{i} {s}: {err}");
        }
    }
}
