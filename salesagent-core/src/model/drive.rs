//! Drive files offered as assets in drafts.

use super::FileId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A file's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriveFile {
    /// Provider's id.
    pub id: FileId,
    /// File name.
    pub name: String,
    /// MIME type.
    pub mime_type: String,
    /// Link a recipient can open, if shared.
    pub web_link: Option<String>,
    /// Short description.
    pub description: Option<String>,
    /// Last modified.
    pub modified_at: Option<DateTime<Utc>>,
    /// Size in bytes, for binary files.
    pub size: Option<u64>,
}

/// A Drive search.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DriveQuery {
    /// Full-text terms (matched in content and name).
    pub text: Option<String>,
    /// Name contains.
    pub name_contains: Option<String>,
    /// Only these MIME types (empty = any).
    pub mime_types: Vec<String>,
    /// At most this many.
    pub limit: u32,
}
