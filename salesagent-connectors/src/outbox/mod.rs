//! The file-based outbox mailbox (`outbox:DIR`), for dry runs, demos and tests.
//!
//! Layout under `DIR`:
//! - `drafts/<message-id>.eml`: mailbox drafts (DRAFT_ONLY mode);
//! - `sent/<message-id>.eml`: "sent" mail — nothing leaves the machine;
//! - `inbox/<anything>.eml`: mail a test or demo drops in as received (optional);
//! - `tmp/`: files being written (every write is a temp file plus a rename or link, so a reader
//!   never sees half a message).
//!
//! File names are the Message-ID with every character outside `[A-Za-z0-9._@+-]` replaced and a
//! hash suffix when anything was replaced, so no Message-ID can escape its folder. Sending a
//! Message-ID that is already in `sent/` returns the first result without writing again, so
//! [`Mailbox::find_sent`] reconciliation works exactly as with a real provider.
//!
//! [`Mailbox::send_draft`] moves `drafts/<stem>.eml` to `sent/<stem>.eml` (link, then unlink), so
//! like a Gmail draft it can be sent once: a second call finds no draft and is `NotFound`.

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use salesagent_core::model::{
    EmailAddress, HistoryPage, MailMessage, MailQuery, MessageId, MessagePage, OutgoingMessage,
    ProviderMessageId, SentMessage, ThreadId,
};
use salesagent_core::ports::Mailbox;
use salesagent_core::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

const DRAFTS: &str = "drafts";
const SENT: &str = "sent";
const INBOX: &str = "inbox";
const TMP: &str = "tmp";
/// Longest file stem we write (most file systems allow 255 bytes per name).
const MAX_STEM: usize = 180;

/// A [`Mailbox`] that keeps mail as `.eml` files in a directory.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

fn io_err(what: &str, e: &std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => Error::PermissionDenied {
            reason: format!("outbox {what}: {e}"),
        },
        std::io::ErrorKind::NotFound => Error::not_found(format!("outbox {what}")),
        _ => Error::backend(format!("outbox {what}: {e}")),
    }
}

/// A file time after every one this process handed out before (and no earlier than now).
fn next_stamp() -> std::time::SystemTime {
    use std::sync::Mutex;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    static LAST: Mutex<u128> = Mutex::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *last = now.max(*last + 1);
    let nanos = u64::try_from(*last).unwrap_or(u64::MAX);
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// The file stem for a Message-ID: safe characters kept, anything else replaced, plus a hash of
/// the original when it had to be changed (or shortened), so distinct ids never collide.
#[must_use]
pub fn file_stem(id: &MessageId) -> String {
    let raw = id.as_str();
    let mut stem: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '+' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.starts_with('.') {
        stem.replace_range(0..1, "_");
    }
    if stem != raw || stem.len() > MAX_STEM {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(raw.as_bytes());
        let hex = salesagent_core::encoding::to_hex(&digest[..8]);
        stem.truncate(MAX_STEM - hex.len() - 1);
        stem.push('-');
        stem.push_str(&hex);
    }
    stem
}

impl Outbox {
    /// Opens (creating when needed) an outbox in `dir`.
    ///
    /// # Errors
    /// `PermissionDenied` or `Backend` when the folders cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        for sub in [DRAFTS, SENT, INBOX, TMP] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| io_err("create dir", &e))?;
        }
        Ok(Self { dir })
    }

    /// Opens the outbox named by a spec `outbox:DIR`.
    ///
    /// # Errors
    /// `InvalidInput` when the spec does not start with `outbox:` or names no directory.
    pub fn from_spec(spec: &str) -> Result<Self> {
        let dir = spec
            .strip_prefix("outbox:")
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| Error::invalid("mailbox", "expected outbox:DIR"))?;
        Self::open(dir)
    }

    /// The outbox directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a sent message with this Message-ID is (or would be) stored.
    #[must_use]
    pub fn sent_path(&self, id: &MessageId) -> PathBuf {
        self.dir.join(SENT).join(format!("{}.eml", file_stem(id)))
    }

    /// Where a mailbox draft with this Message-ID is (or would be) stored.
    #[must_use]
    pub fn draft_path(&self, id: &MessageId) -> PathBuf {
        self.dir.join(DRAFTS).join(format!("{}.eml", file_stem(id)))
    }

    /// Drops a received message into `inbox/` (demo and tests); returns its provider id.
    ///
    /// # Errors
    /// I/O errors.
    pub async fn receive(&self, raw: Vec<u8>) -> Result<ProviderMessageId> {
        let name = format!("{}.eml", uuid::Uuid::now_v7().simple());
        let this = self.clone();
        let n = name.clone();
        blocking(move || this.write_atomic(INBOX, &n, &raw, true)).await?;
        Ok(ProviderMessageId::new(format!("{INBOX}/{name}")))
    }

    fn write_tmp(&self, bytes: &[u8]) -> Result<PathBuf> {
        let tmp = self
            .dir
            .join(TMP)
            .join(format!("{}.tmp", uuid::Uuid::now_v7().simple()));
        let mut f = std::fs::File::create(&tmp).map_err(|e| io_err("write", &e))?;
        f.write_all(bytes).map_err(|e| io_err("write", &e))?;
        // The file's time orders mail (history cursor, newest first): the kernel stamps files
        // with a coarse clock (a few ms), so two mails written back to back could tie. Stamp
        // them ourselves, strictly increasing within this process, at nanosecond resolution.
        let _ = f.set_modified(next_stamp());
        f.sync_all().map_err(|e| io_err("sync", &e))?;
        Ok(tmp)
    }

    /// Writes `bytes` to `folder/name` atomically. With `replace = false`, an existing file wins
    /// and `Ok(false)` is returned (a hard link never overwrites).
    fn write_atomic(&self, folder: &str, name: &str, bytes: &[u8], replace: bool) -> Result<bool> {
        let target = self.dir.join(folder).join(name);
        let tmp = self.write_tmp(bytes)?;
        let result = if replace {
            std::fs::rename(&tmp, &target)
                .map(|()| true)
                .map_err(|e| io_err("rename", &e))
        } else {
            let linked = std::fs::hard_link(&tmp, &target);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(io_err("link", &e)),
            }
        };
        if replace && result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn send_draft_now(&self, draft: &SentMessage) -> Result<SentMessage> {
        let name = format!("{}.eml", file_stem(&draft.message_id));
        let gone = || {
            Error::not_found(format!(
                "outbox draft of {} (already sent, or deleted)",
                draft.message_id
            ))
        };
        if draft.provider_id.as_str() != format!("{DRAFTS}/{name}") {
            return Err(gone());
        }
        let draft_path = self.dir.join(DRAFTS).join(&name);
        let raw = match std::fs::read(&draft_path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone()),
            Err(e) => return Err(io_err("read draft", &e)),
        };
        // A fresh file (not a link to the draft's inode) so its mtime orders it in `history`.
        let delivered = self.write_atomic(SENT, &name, &raw, false)?;
        // Delivered now or before: either way this draft can never be sent again.
        match std::fs::remove_file(&draft_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove draft", &e)),
        }
        if !delivered {
            return Err(gone());
        }
        let path = self.dir.join(SENT).join(&name);
        let m = self.read(SENT, &format!("{SENT}/{name}"), &path)?;
        let mut sent = sent_message(&m, &draft.message_id);
        if let Some(t) = &draft.thread_id {
            sent.thread_id = Some(t.clone());
        }
        Ok(sent)
    }

    /// Every `.eml` file of `folder` with its modification time, oldest first.
    fn list(&self, folder: &str) -> Result<Vec<(u128, String, PathBuf)>> {
        let mut out = Vec::new();
        let dir = self.dir.join(folder);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err("list", &e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", &e))?;
            let path = entry.path();
            if path.extension().and_then(|x| x.to_str()) != Some("eml") {
                continue;
            }
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(|e| io_err("stat", &e))?;
            let nanos = modified
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let name = format!("{folder}/{}", entry.file_name().to_string_lossy());
            out.push((nanos, name, path));
        }
        out.sort();
        Ok(out)
    }

    fn read(&self, folder: &str, provider_name: &str, path: &Path) -> Result<MailMessage> {
        let raw = std::fs::read(path).map_err(|e| io_err("read", &e))?;
        Ok(parse(provider_name, folder, raw))
    }

    fn read_all(&self, folders: &[&str]) -> Result<Vec<(u128, MailMessage)>> {
        let mut out = Vec::new();
        for folder in folders {
            for (nanos, name, path) in self.list(folder)? {
                out.push((nanos, self.read(folder, &name, &path)?));
            }
        }
        Ok(out)
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::backend(format!("outbox task: {e}")))?
}

fn ids(text: &str) -> Vec<MessageId> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(|t| MessageId::parse(t).ok())
        .collect()
}

/// The thread a message belongs to: the root of its References, else its parent, else itself.
fn thread_of(
    message_id: Option<&MessageId>,
    in_reply_to: Option<&MessageId>,
    refs: &[MessageId],
) -> Option<ThreadId> {
    refs.first()
        .or(in_reply_to)
        .or(message_id)
        .map(|m| ThreadId::new(m.as_str()))
}

fn parse(provider_name: &str, folder: &str, raw: Vec<u8>) -> MailMessage {
    let parsed = mail_parser::MessageParser::default().parse(&raw);
    let mut m = MailMessage {
        provider_id: ProviderMessageId::new(provider_name),
        thread_id: None,
        message_id: None,
        in_reply_to: None,
        references: Vec::new(),
        from: None,
        to: Vec::new(),
        subject: String::new(),
        date: None,
        body_text: String::new(),
        headers: Vec::new(),
        labels: vec![folder.to_ascii_uppercase()],
        raw: None,
    };
    if let Some(p) = &parsed {
        m.headers = p
            .headers_raw()
            .map(|(n, v)| (n.to_owned(), v.trim().replace("\r\n", "")))
            .collect();
        let header = |name: &str| {
            m.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        m.message_id = p.message_id().and_then(|s| MessageId::parse(s).ok());
        m.in_reply_to = header("In-Reply-To").and_then(|v| ids(&v).into_iter().next());
        m.references = header("References").map(|v| ids(&v)).unwrap_or_default();
        m.from = p
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .and_then(|a| EmailAddress::parse(a).ok());
        m.to = p
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.address())
                    .filter_map(|x| EmailAddress::parse(x).ok())
                    .collect()
            })
            .unwrap_or_default();
        m.subject = p.subject().unwrap_or_default().to_owned();
        m.date = p
            .date()
            .and_then(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single());
        m.body_text = p
            .body_text(0)
            .map(|b| b.replace("\r\n", "\n"))
            .unwrap_or_default();
    }
    m.thread_id = thread_of(m.message_id.as_ref(), m.in_reply_to.as_ref(), &m.references);
    m.raw = Some(raw);
    m
}

fn sent_message(m: &MailMessage, id: &MessageId) -> SentMessage {
    SentMessage {
        provider_id: m.provider_id.clone(),
        thread_id: m.thread_id.clone(),
        message_id: id.clone(),
    }
}

fn parse_cursor(c: &str) -> Result<(u128, String)> {
    let (n, name) = c
        .split_once(':')
        .ok_or_else(|| Error::invalid("cursor", "not an outbox cursor"))?;
    let n = n
        .parse()
        .map_err(|_| Error::invalid("cursor", "not an outbox cursor"))?;
    Ok((n, name.to_owned()))
}

#[async_trait]
impl Mailbox for Outbox {
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>> {
        let this = self.clone();
        let query = query.clone();
        blocking(move || {
            let folders: &[&str] = if query.sent_only {
                &[SENT]
            } else {
                &[SENT, DRAFTS, INBOX]
            };
            let mut found: Vec<(u128, MailMessage)> = this
                .read_all(folders)?
                .into_iter()
                .filter(|(_, m)| query.matches(m))
                .collect();
            found.sort_by_key(|(n, m)| std::cmp::Reverse((m.date, *n)));
            let limit = if query.limit == 0 {
                usize::MAX
            } else {
                query.limit as usize
            };
            Ok(found.into_iter().take(limit).map(|(_, m)| m).collect())
        })
        .await
    }

    async fn get_thread(&self, thread: &ThreadId) -> Result<Vec<MailMessage>> {
        let this = self.clone();
        let thread = thread.clone();
        blocking(move || {
            let mut found: Vec<(u128, MailMessage)> = this
                .read_all(&[SENT, INBOX])?
                .into_iter()
                .filter(|(_, m)| m.thread_id.as_ref() == Some(&thread))
                .collect();
            if found.is_empty() {
                return Err(Error::not_found(format!("thread {thread}")));
            }
            found.sort_by_key(|(n, m)| (m.date, *n));
            Ok(found.into_iter().map(|(_, m)| m).collect())
        })
        .await
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        if message.to.is_empty() {
            return Err(Error::invalid("to", "needs at least one recipient"));
        }
        let this = self.clone();
        let message = message.clone();
        blocking(move || {
            let name = format!("{}.eml", file_stem(&message.message_id));
            // A second send of one Message-ID finds the first file and writes nothing.
            this.write_atomic(SENT, &name, &message.raw, false)?;
            let path = this.dir.join(SENT).join(&name);
            let m = this.read(SENT, &format!("{SENT}/{name}"), &path)?;
            let mut sent = sent_message(&m, &message.message_id);
            if let Some(t) = message.thread_id {
                sent.thread_id = Some(t);
            }
            Ok(sent)
        })
        .await
    }

    /// Writes (or replaces) `drafts/<stem>.eml`. A Message-ID already in `sent/` is `Conflict`
    /// ("already sent"): that message can never be sent again, so no draft of it is made.
    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        let this = self.clone();
        let message = message.clone();
        blocking(move || {
            let name = format!("{}.eml", file_stem(&message.message_id));
            if this.dir.join(SENT).join(&name).exists() {
                return Err(Error::conflict(format!(
                    "outbox: message {} was already sent",
                    message.message_id
                )));
            }
            this.write_atomic(DRAFTS, &name, &message.raw, true)?;
            let m = parse(&format!("{DRAFTS}/{name}"), DRAFTS, message.raw.clone());
            let mut sent = sent_message(&m, &message.message_id);
            if let Some(t) = message.thread_id {
                sent.thread_id = Some(t);
            }
            Ok(sent)
        })
        .await
    }

    /// Moves `drafts/<stem>.eml` to `sent/<stem>.eml`: the draft's bytes are linked into `sent/`
    /// (a link never overwrites, so one name in `sent/` decides who delivered) and only then is
    /// the draft removed, so the message is never in neither folder. A missing draft, or one
    /// whose Message-ID is already in `sent/`, is `NotFound`.
    async fn send_draft(&self, draft: &SentMessage) -> Result<SentMessage> {
        let this = self.clone();
        let draft = draft.clone();
        blocking(move || this.send_draft_now(&draft)).await
    }

    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        let this = self.clone();
        let id = message_id.clone();
        blocking(move || {
            let path = this.sent_path(&id);
            if !path.exists() {
                return Ok(None);
            }
            let name = format!(
                "{SENT}/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            let m = this.read(SENT, &name, &path)?;
            // Guard against a file name shared by two ids (only possible by hand-made files).
            if m.message_id.as_ref() != Some(&id) {
                return Ok(None);
            }
            Ok(Some(sent_message(&m, &id)))
        })
        .await
    }

    async fn history(&self, cursor: Option<&str>) -> Result<HistoryPage> {
        let this = self.clone();
        let cursor = cursor.map(parse_cursor).transpose()?;
        blocking(move || {
            let mut files = this.list(SENT)?;
            files.extend(this.list(INBOX)?);
            files.sort();
            let last = files.last().map(|(n, name, _)| format!("{n}:{name}"));
            let Some(from) = cursor else {
                return Ok(HistoryPage {
                    messages: Vec::new(),
                    next_cursor: Some(last.unwrap_or_else(|| "0:".to_owned())),
                });
            };
            let mut messages = Vec::new();
            let mut next = format!("{}:{}", from.0, from.1);
            for (n, name, path) in files {
                if (n, name.clone()) <= from {
                    continue;
                }
                let folder = name.split('/').next().unwrap_or(SENT).to_owned();
                messages.push(this.read(&folder, &name, &path)?);
                next = format!("{n}:{name}");
            }
            Ok(HistoryPage {
                messages,
                next_cursor: Some(next),
            })
        })
        .await
    }

    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage> {
        let this = self.clone();
        let offset: usize = match page_token {
            Some(t) => t
                .parse()
                .map_err(|_| Error::invalid("page_token", "not an outbox page token"))?,
            None => 0,
        };
        let size = if page_size == 0 {
            50
        } else {
            page_size as usize
        };
        blocking(move || {
            let mut files = this.list(SENT)?;
            files.reverse();
            let total = files.len();
            let mut messages = Vec::new();
            for (_, name, path) in files.into_iter().skip(offset).take(size) {
                messages.push(this.read(SENT, &name, &path)?);
            }
            let next = offset + messages.len();
            Ok(MessagePage {
                messages,
                next_page: (next < total).then(|| next.to_string()),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn file_stems_are_safe_and_distinct() {
        let plain = MessageId::parse("0194abc@mail.seller.dev").unwrap();
        assert_eq!(file_stem(&plain), "0194abc@mail.seller.dev");
        let a = MessageId::parse("a/b@x.dev").unwrap();
        let b = MessageId::parse("a_b@x.dev").unwrap();
        let dots = MessageId::parse("..@x.dev").unwrap();
        let long = MessageId::parse(&format!("{}@x.dev", "a".repeat(400))).unwrap();
        for id in [&a, &b, &dots, &long] {
            let s = file_stem(id);
            assert!(!s.contains('/') && !s.contains('\\') && !s.starts_with('.'));
            assert!(s.len() <= MAX_STEM, "{s}");
        }
        assert_ne!(file_stem(&a), file_stem(&b));
        assert!(Outbox::from_spec("gmail:x").is_err());
        assert!(Outbox::from_spec("outbox:").is_err());
    }
}
