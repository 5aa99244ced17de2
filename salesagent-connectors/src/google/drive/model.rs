//! Drive v3 wire types, as in `contracts/google/drive.v3.discovery.json`.

use serde::{Deserialize, Serialize};

/// `File` (the fields we request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct File {
    /// Id.
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// MIME type.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// Link to open the file.
    #[serde(default)]
    pub web_view_link: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub modified_time: Option<String>,
    /// int64 as a string.
    #[serde(default)]
    pub size: Option<String>,
}

/// `FileList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileList {
    /// Files.
    #[serde(default)]
    pub files: Vec<File>,
    /// Next page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// The `fields` selector for one file.
pub const FILE_FIELDS: &str = "id,name,mimeType,webViewLink,description,modifiedTime,size";
