//! One IMAP connection: TLS, login, special-use folder discovery and the few commands the
//! mailbox needs, each mapped onto `salesagent_core::Error`.

use super::{Endpoint, Folders, MailAuth, Security, xoauth2_response};
use async_imap::types::NameAttribute;
use futures::TryStreamExt;
use salesagent_core::{Error, Result};
use secrecy::ExposeSecret;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};

/// Any byte stream an IMAP session can run over (TCP or TLS over TCP).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

type Session = async_imap::Session<Box<dyn Io>>;

/// Folder names this connection uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FolderNames {
    pub(crate) inbox: String,
    pub(crate) sent: String,
    pub(crate) drafts: String,
}

/// One fetched message.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub(crate) uid: u32,
    pub(crate) internal_ms: Option<i64>,
    pub(crate) raw: Vec<u8>,
}

/// A logged-in IMAP session with its folders.
#[derive(Debug)]
pub(crate) struct Conn {
    session: Session,
    pub(crate) folders: FolderNames,
    uidplus: bool,
    pub(crate) last_used: tokio::time::Instant,
}

/// Maps an IMAP client error.
pub(crate) fn imap_err(what: &str, e: async_imap::error::Error) -> Error {
    use async_imap::error::Error as E;
    match e {
        E::Io(e) => Error::unavailable(format!("imap {what}: {e}")),
        E::ConnectionLost => Error::unavailable(format!("imap {what}: connection lost")),
        E::No(m) => Error::backend(format!("imap {what}: server said NO: {m}")),
        E::Bad(m) => Error::backend(format!("imap {what}: server said BAD: {m}")),
        E::Validate(v) => Error::invalid(what.to_owned(), v.to_string()),
        other => Error::backend(format!("imap {what}: {other}")),
    }
}

/// The rustls client configuration: the system's roots plus `extra` PEM certificates.
pub(crate) fn tls_config(extra: &[Vec<u8>]) -> Result<Arc<ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    for pem in extra {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::invalid("ca_file", e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| Error::invalid("ca_file", e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::backend(format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn tls_wrap(
    tcp: TcpStream,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Error::invalid("imap host", e.to_string()))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| Error::unavailable(format!("imap tls handshake with {host}: {e}")))
}

/// `XOAUTH2` as an `async-imap` authenticator: the initial response, then an empty line after
/// an error challenge (so the server can answer `NO`).
struct XOAuth2 {
    response: Option<String>,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        self.response.take().unwrap_or_default()
    }
}

async fn read_greeting<T: Io>(client: &mut async_imap::Client<T>) -> Result<()> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Error::unavailable("imap: closed before the greeting")),
        Err(e) => Err(Error::unavailable(format!("imap greeting: {e}"))),
    }
}

impl Conn {
    /// Connects, logs in and discovers the folders.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        auth: &MailAuth,
        folders: &Folders,
        tls: &Arc<ClientConfig>,
    ) -> Result<Self> {
        let addr = (endpoint.host.as_str(), endpoint.port);
        let tcp = TcpStream::connect(addr).await.map_err(|e| {
            Error::unavailable(format!(
                "imap connect {}:{}: {e}",
                endpoint.host, endpoint.port
            ))
        })?;
        let client = match endpoint.security {
            Security::Plain => {
                let stream: Box<dyn Io> = Box::new(tcp);
                let mut c = async_imap::Client::new(stream);
                read_greeting(&mut c).await?;
                c
            }
            Security::Tls => {
                let stream: Box<dyn Io> =
                    Box::new(tls_wrap(tcp, &endpoint.host, tls.clone()).await?);
                let mut c = async_imap::Client::new(stream);
                read_greeting(&mut c).await?;
                c
            }
            Security::StartTls => {
                let mut c = async_imap::Client::new(tcp);
                read_greeting(&mut c).await?;
                c.run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| imap_err("STARTTLS", e))?;
                let tcp = c.into_inner();
                let stream: Box<dyn Io> =
                    Box::new(tls_wrap(tcp, &endpoint.host, tls.clone()).await?);
                async_imap::Client::new(stream)
            }
        };
        let mut session = match auth {
            MailAuth::Password { username, password } => client
                .login(username, password.expose_secret())
                .await
                .map_err(|(e, _)| login_err(username, e))?,
            MailAuth::XOAuth2 { username, token } => {
                let bearer = token.bearer().await?;
                let attempt = client
                    .authenticate(
                        "XOAUTH2",
                        XOAuth2 {
                            response: Some(xoauth2_response(username, bearer.expose_secret())),
                        },
                    )
                    .await;
                match attempt {
                    Ok(s) => s,
                    Err((e, client)) => {
                        // The token may have been revoked or expired early: refresh once.
                        tracing::debug!(username, "imap XOAUTH2 refused; refreshing the token");
                        token
                            .refresh_after_rejection(&bearer)
                            .await
                            .map_err(|_| login_err(username, e))?;
                        let bearer = token.bearer().await?;
                        client
                            .authenticate(
                                "XOAUTH2",
                                XOAuth2 {
                                    response: Some(xoauth2_response(
                                        username,
                                        bearer.expose_secret(),
                                    )),
                                },
                            )
                            .await
                            .map_err(|(e, _)| login_err(username, e))?
                    }
                }
            }
        };
        let caps = session
            .capabilities()
            .await
            .map_err(|e| imap_err("CAPABILITY", e))?;
        let uidplus = caps.has_str("UIDPLUS");
        let folders = discover(&mut session, folders).await?;
        Ok(Self {
            session,
            folders,
            uidplus,
            last_used: tokio::time::Instant::now(),
        })
    }

    /// `NOOP` (the health check, and a liveness probe before reusing an idle connection).
    pub(crate) async fn noop(&mut self) -> Result<()> {
        self.session.noop().await.map_err(|e| imap_err("NOOP", e))
    }

    /// Ends the session politely.
    pub(crate) async fn logout(mut self) {
        let _ = self.session.logout().await;
    }

    /// Selects `folder`: its `UIDVALIDITY` and next UID.
    pub(crate) async fn select(&mut self, folder: &str) -> Result<(u32, u32)> {
        let m = self
            .session
            .select(folder)
            .await
            .map_err(|e| imap_err("SELECT", e))?;
        self.drain();
        let validity = m.uid_validity.unwrap_or(0);
        let next = match m.uid_next {
            Some(n) => n,
            None => self.search("ALL").await?.last().map_or(1, |u| u + 1),
        };
        Ok((validity, next))
    }

    /// `UID SEARCH` in the selected folder; UIDs ascending.
    pub(crate) async fn search(&mut self, criteria: &str) -> Result<Vec<u32>> {
        let set = self
            .session
            .uid_search(criteria)
            .await
            .map_err(|e| imap_err("UID SEARCH", e))?;
        self.drain();
        let mut uids: Vec<u32> = set.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// Whole messages by UID from the selected folder, ascending UID.
    pub(crate) async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<Fetched>> {
        let mut out = Vec::new();
        for chunk in uids.chunks(200) {
            let set = uid_set(chunk);
            let fetches: Vec<async_imap::types::Fetch> = self
                .session
                .uid_fetch(&set, "(UID INTERNALDATE BODY.PEEK[])")
                .await
                .map_err(|e| imap_err("UID FETCH", e))?
                .try_collect()
                .await
                .map_err(|e| imap_err("UID FETCH", e))?;
            for f in &fetches {
                let (Some(uid), Some(body)) = (f.uid, f.body()) else {
                    continue;
                };
                if !chunk.contains(&uid) {
                    continue;
                }
                out.push(Fetched {
                    uid,
                    internal_ms: f.internal_date().map(|d| d.timestamp_millis()),
                    raw: body.to_vec(),
                });
            }
        }
        self.drain();
        out.sort_by_key(|f| f.uid);
        out.dedup_by_key(|f| f.uid);
        Ok(out)
    }

    /// `APPEND` to `folder` with `flags` (e.g. `(\Seen)`).
    pub(crate) async fn append(&mut self, folder: &str, flags: &str, raw: &[u8]) -> Result<()> {
        self.session
            .append(folder, Some(flags), None, raw)
            .await
            .map_err(|e| imap_err("APPEND", e))?;
        self.drain();
        Ok(())
    }

    /// Marks `uids` of the selected folder `\Deleted` and expunges them (`UID EXPUNGE` where the
    /// server has UIDPLUS, else `EXPUNGE`).
    pub(crate) async fn delete(&mut self, uids: &[u32]) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        let _: Vec<_> = self
            .session
            .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
            .await
            .map_err(|e| imap_err("UID STORE", e))?
            .try_collect()
            .await
            .map_err(|e| imap_err("UID STORE", e))?;
        if self.uidplus {
            let _: Vec<_> = self
                .session
                .uid_expunge(&set)
                .await
                .map_err(|e| imap_err("UID EXPUNGE", e))?
                .try_collect()
                .await
                .map_err(|e| imap_err("UID EXPUNGE", e))?;
        } else {
            let _: Vec<_> = self
                .session
                .expunge()
                .await
                .map_err(|e| imap_err("EXPUNGE", e))?
                .try_collect()
                .await
                .map_err(|e| imap_err("EXPUNGE", e))?;
        }
        self.drain();
        Ok(())
    }

    /// Drops unsolicited responses (EXISTS, RECENT, …) the session queued.
    fn drain(&mut self) {
        while self.session.unsolicited_responses.try_recv().is_ok() {}
    }
}

fn login_err(username: &str, e: async_imap::error::Error) -> Error {
    match e {
        async_imap::error::Error::No(m) | async_imap::error::Error::Bad(m) => {
            Error::unauthenticated(format!("imap login of {username} refused: {m}"))
        }
        other => imap_err("login", other),
    }
}

/// `1,2,5` for a UID list.
pub(crate) fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Names tried when a server marks no special-use folder (RFC 6154 not supported).
const SENT_NAMES: &[&str] = &[
    "Sent",
    "Sent Items",
    "Sent Messages",
    "Sent Mail",
    "[Gmail]/Sent Mail",
    "INBOX.Sent",
    "INBOX/Sent",
];
const DRAFT_NAMES: &[&str] = &[
    "Drafts",
    "Draft",
    "[Gmail]/Drafts",
    "INBOX.Drafts",
    "INBOX/Drafts",
];

/// Finds the Sent and Drafts folders: the configured names, else the `\Sent` / `\Drafts`
/// special-use attributes from `LIST`, else a folder with a common name, else a new folder.
async fn discover(session: &mut Session, wanted: &Folders) -> Result<FolderNames> {
    let names: Vec<async_imap::types::Name> = session
        .list(Some(""), Some("*"))
        .await
        .map_err(|e| imap_err("LIST", e))?
        .try_collect()
        .await
        .map_err(|e| imap_err("LIST", e))?;
    let mut sent = wanted.sent.clone();
    let mut drafts = wanted.drafts.clone();
    let mut inbox = "INBOX".to_owned();
    let selectable: Vec<&async_imap::types::Name> = names
        .iter()
        .filter(|n| !n.attributes().contains(&NameAttribute::NoSelect))
        .collect();
    for n in &selectable {
        if n.name().eq_ignore_ascii_case("INBOX") {
            n.name().clone_into(&mut inbox);
        }
        if sent.is_none() && n.attributes().contains(&NameAttribute::Sent) {
            sent = Some(n.name().to_owned());
        }
        if drafts.is_none() && n.attributes().contains(&NameAttribute::Drafts) {
            drafts = Some(n.name().to_owned());
        }
    }
    let by_name = |candidates: &[&str]| {
        candidates.iter().find_map(|c| {
            selectable
                .iter()
                .find(|n| n.name().eq_ignore_ascii_case(c))
                .map(|n| n.name().to_owned())
        })
    };
    let sent_found = sent.or_else(|| by_name(SENT_NAMES));
    let drafts_found = drafts.or_else(|| by_name(DRAFT_NAMES));
    let mut ensure = async |found: Option<String>, default: &str| -> Result<String> {
        if let Some(f) = found {
            return Ok(f);
        }
        tracing::info!(folder = default, "imap: no such folder; creating it");
        session
            .create(default)
            .await
            .map_err(|e| imap_err("CREATE", e))?;
        Ok(default.to_owned())
    };
    let sent = ensure(sent_found, "Sent").await?;
    let drafts = ensure(drafts_found, "Drafts").await?;
    Ok(FolderNames {
        inbox,
        sent,
        drafts,
    })
}
