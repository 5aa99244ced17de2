//! Gmail v1 wire types, as in `contracts/google/gmail.v1.discovery.json`.

use serde::{Deserialize, Serialize};

/// `Message` (the fields we read or send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub label_ids: Vec<String>,
    /// Epoch milliseconds, as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_date: Option<String>,
    /// The whole message, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// `ListMessagesResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListMessagesResponse {
    /// Ids (and thread ids) of matches.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// Next page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `Thread`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Thread {
    /// Thread id.
    #[serde(default)]
    pub id: Option<String>,
    /// Messages, oldest first.
    #[serde(default)]
    pub messages: Vec<Message>,
}

/// `Draft`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Draft {
    /// Draft id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The draft's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

/// `HistoryMessageAdded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HistoryMessageAdded {
    /// The added message (id, threadId, labels).
    #[serde(default)]
    pub message: Option<Message>,
}

/// `History`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// History record id.
    #[serde(default)]
    pub id: Option<String>,
    /// Messages added.
    #[serde(default)]
    pub messages_added: Vec<HistoryMessageAdded>,
}

/// `ListHistoryResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListHistoryResponse {
    /// Records, oldest first.
    #[serde(default)]
    pub history: Vec<History>,
    /// The mailbox's current history id.
    #[serde(default)]
    pub history_id: Option<String>,
    /// Next page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `Profile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The mailbox address.
    #[serde(default)]
    pub email_address: Option<String>,
    /// Current history id.
    #[serde(default)]
    pub history_id: Option<String>,
}
