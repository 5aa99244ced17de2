//! Any mailbox over IMAP + SMTP (feature `imap`, on by default): Microsoft 365, Google
//! Workspace, Fastmail, a hosted Exchange or one's own Dovecot/Postfix.
//!
//! [`ImapMailbox`] implements the whole [`Mailbox`](salesagent_core::ports::Mailbox) port:
//! - **send**: the rendered message is submitted over SMTP (implicit TLS, STARTTLS or plain, by
//!   `lettre` on rustls), then a copy is appended to the Sent folder ([`SentCopy::Append`], the
//!   default) unless the server files one itself ([`SentCopy::Server`]: Gmail, and Microsoft 365
//!   for SMTP AUTH submissions). A mailbox draft with the same Message-ID is deleted afterwards:
//!   a sent message is no longer a draft.
//! - **drafts**: IMAP `APPEND` to the Drafts folder with `\Draft`.
//! - **search, threads, find_sent**: IMAP `UID SEARCH` in the inbox and the Sent folder (server
//!   side where the criteria are ASCII, then checked exactly on the parsed messages). Threads are
//!   the root of `References` (else `In-Reply-To`, else the message's own Message-ID).
//! - **history**: a cursor of `UIDVALIDITY` and the next UID of the inbox and of the Sent folder.
//!   When a folder's `UIDVALIDITY` changes the cursor is answered `NotFound`, and the outcome scan
//!   re-syncs by search since its last scan (the port's rule for an expired cursor).
//! - **folders**: the Sent and Drafts folders are discovered from their RFC 6154 special-use
//!   attributes (`\Sent`, `\Drafts`) in `LIST`; only when a server marks none are the common
//!   names tried, and only then is a folder created. Both can be named explicitly.
//! - **auth**: `LOGIN`/`AUTH PLAIN|LOGIN` with a password (or app password), or `XOAUTH2` with an
//!   access token from any [`Authorizer`] (the OAuth layer: Google, Microsoft's identity
//!   platform; see [`crate::oauth_provider`]), for IMAP and SMTP alike.
//!
//! ## Exactly-once, and the window that remains
//! SMTP has no idempotency key, so this mailbox does not implement
//! [`Mailbox::send_draft`](salesagent_core::ports::Mailbox::send_draft) (it answers
//! `Unsupported`) and the sender uses its fallback: it records the send attempt under its fenced
//! send claim **before** calling [`Mailbox::send`](salesagent_core::ports::Mailbox::send), and a
//! reconciler that takes over after a crash looks our Message-ID up ([`Mailbox::find_sent`] on
//! the Sent folder, where the server's own copy lands too) after the search-lag bound before it
//! sends again. [`Mailbox::send`] itself looks the Message-ID up in the Sent folder first and
//! returns the earlier send instead of submitting twice.
//!
//! What this cannot close: a message the SMTP server accepted but whose copy never reached the
//! Sent folder. That happens when the process dies between the server's `250` after `DATA` and
//! the `APPEND` (a few milliseconds), when the `250` itself is lost on the network (the
//! classic SMTP duplicate), or when the `APPEND` fails after retrying (logged as a warning; the
//! send still counts as done). A resend after the search-lag bound then delivers a second copy.
//! With [`SentCopy::Server`] the window is the server's own filing delay instead, so set the
//! sender's search-lag bound above it.
//!
//! [`Mailbox::find_sent`]: salesagent_core::ports::Mailbox::find_sent
//! [`Mailbox::send`]: salesagent_core::ports::Mailbox::send
//! [`Authorizer`]: crate::http::Authorizer

mod builder;
mod conn;
mod mailbox;
mod smtp;

pub use builder::ImapBuilder;

use crate::http::Authorizer;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    Tls,
    /// Plain connection upgraded with `STARTTLS` (IMAP 143, SMTP submission 587).
    StartTls,
    /// No TLS at all: only for servers on the same machine (tests, a local relay).
    Plain,
}

/// One server: host, port and transport security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name (also the TLS server name).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Transport security.
    pub security: Security,
}

/// How to log in (IMAP and SMTP). `Debug` never shows a password or token.
#[derive(Debug, Clone)]
pub enum MailAuth {
    /// A password or app password (`LOGIN` / `AUTH PLAIN`).
    Password {
        /// The login name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// `XOAUTH2` with an OAuth access token (Google Workspace, Microsoft 365).
    XOAuth2 {
        /// The mailbox the token belongs to.
        username: String,
        /// Hands out (and refreshes) the access token.
        token: Arc<dyn Authorizer>,
    },
}

impl MailAuth {
    /// The login name.
    #[must_use]
    pub fn username(&self) -> &str {
        match self {
            Self::Password { username, .. } | Self::XOAuth2 { username, .. } => username,
        }
    }
}

/// Who keeps the copy of a sent message in the Sent folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SentCopy {
    /// This connector appends it after the SMTP submission (most IMAP servers).
    #[default]
    Append,
    /// The server files submitted mail into the Sent folder itself (Gmail; Microsoft 365).
    Server,
}

/// Folder names that override discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folders {
    /// The Sent folder (else the `\Sent` special-use folder).
    pub sent: Option<String>,
    /// The Drafts folder (else the `\Drafts` special-use folder).
    pub drafts: Option<String>,
}

/// The IMAP + SMTP mailbox. Cheap to clone; one IMAP connection is kept open and shared
/// (commands run one at a time), and each send opens its own SMTP connection.
#[derive(Debug, Clone)]
pub struct ImapMailbox {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    imap: Endpoint,
    smtp: Endpoint,
    imap_auth: MailAuth,
    smtp_auth: Option<MailAuth>,
    sent_copy: SentCopy,
    folders: Folders,
    timeout: Duration,
    extra_roots: Vec<Vec<u8>>,
    conn: tokio::sync::Mutex<Option<conn::Conn>>,
}

impl ImapMailbox {
    /// A builder (see [`ImapBuilder::from_env`]).
    #[must_use]
    pub fn builder() -> ImapBuilder {
        ImapBuilder::default()
    }

    /// The IMAP server.
    #[must_use]
    pub fn imap_endpoint(&self) -> &Endpoint {
        &self.inner.imap
    }

    /// The SMTP server.
    #[must_use]
    pub fn smtp_endpoint(&self) -> &Endpoint {
        &self.inner.smtp
    }

    /// The login name used for IMAP.
    #[must_use]
    pub fn username(&self) -> &str {
        self.inner.imap_auth.username()
    }
}

/// The SASL `XOAUTH2` initial response (Google's and Microsoft's format):
/// `user=<user>\x01auth=Bearer <token>\x01\x01`, before base64.
#[must_use]
pub fn xoauth2_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_format() {
        assert_eq!(
            xoauth2_response("ann@example.com", "ya29.x"),
            "user=ann@example.com\u{1}auth=Bearer ya29.x\u{1}\u{1}"
        );
    }
}
