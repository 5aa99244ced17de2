//! The document store port (Google Drive, or any).

use crate::Result;
use crate::model::{DriveFile, DriveQuery, FileId};
use async_trait::async_trait;
use std::sync::Arc;

/// Finding and reading sales assets.
#[async_trait]
pub trait Drive: Send + Sync + std::fmt::Debug + 'static {
    /// Files matching `query`, most relevant first.
    async fn search(&self, query: &DriveQuery) -> Result<Vec<DriveFile>>;

    /// A file's metadata. Unknown id: `NotFound`.
    async fn get(&self, id: &FileId) -> Result<DriveFile>;

    /// The file as plain text, cut to at most `max_bytes` on a character boundary.
    /// Binary files: `Unsupported`.
    async fn export_text(&self, id: &FileId, max_bytes: usize) -> Result<String>;
}

/// A shared drive.
pub type DynDrive = Arc<dyn Drive>;
