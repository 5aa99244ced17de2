//! The mailbox port (Gmail, the file outbox, or any mailbox).

use crate::Result;
use crate::model::{
    HistoryPage, MailMessage, MailQuery, MessageId, MessagePage, OutgoingMessage, SentMessage,
    ThreadId,
};
use async_trait::async_trait;
use std::sync::Arc;

/// Searching, reading and sending mail for one mailbox.
#[async_trait]
pub trait Mailbox: Send + Sync + std::fmt::Debug + 'static {
    /// Messages matching `query`, newest first.
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>>;

    /// Every message of a thread, oldest first. Unknown thread: `NotFound`.
    async fn get_thread(&self, thread: &ThreadId) -> Result<Vec<MailMessage>>;

    /// Sends a rendered message. Sending the same Message-ID twice must not deliver twice where the
    /// provider can tell (callers also reconcile with [`Mailbox::find_sent`] before retrying).
    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage>;

    /// Stores a rendered message as a draft in the mailbox (DRAFT_ONLY mode); nothing is sent.
    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage>;

    /// Sends a mailbox draft that [`Mailbox::create_draft`] stored (`draft` is what it returned:
    /// `provider_id` is the mailbox draft's id). This is the exactly-once send path: a draft that
    /// has been sent is no longer a draft, so calling this again for the same draft can never
    /// deliver twice. A draft that no longer exists (already sent, or deleted by a person) is
    /// [`Error::NotFound`](crate::Error::NotFound); the caller then looks the Message-ID up with
    /// [`Mailbox::find_sent`].
    ///
    /// The default answers [`Error::Unsupported`](crate::Error::Unsupported): such a mailbox is
    /// sent to with [`Mailbox::send`] and reconciled by Message-ID instead.
    async fn send_draft(&self, draft: &SentMessage) -> Result<SentMessage> {
        let _ = draft;
        Err(crate::Error::unsupported("sending a mailbox draft"))
    }

    /// The sent message carrying this Message-ID, if any (send reconciliation).
    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>>;

    /// Messages added since `cursor` (None = start a cursor at "now", returning nothing), oldest first.
    /// A cursor the mailbox no longer knows (expired) is [`Error::NotFound`](crate::Error::NotFound)
    /// and one it never issued is `InvalidInput` for `cursor`: the outcome scan then re-syncs by
    /// [`Mailbox::search`] since its last scan instead of skipping the gap.
    async fn history(&self, cursor: Option<&str>) -> Result<HistoryPage>;

    /// A page of the sent folder, newest first (for voice learning).
    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage>;
}

/// A shared mailbox.
pub type DynMailbox = Arc<dyn Mailbox>;
