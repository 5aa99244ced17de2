//! An in-memory document store.

use super::lock;
use crate::model::{DriveFile, DriveQuery, FileId, truncate_on_char_boundary};
use crate::ports::Drive;
use crate::{Error, Result};
use async_trait::async_trait;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct DriveState {
    next_id: u64,
    /// Files with their text (None = binary).
    files: Vec<(DriveFile, Option<String>)>,
    exports: Vec<FileId>,
}

/// An in-memory [`Drive`]: seeded files, optional text per file, simple term matching.
///
/// Search ranks files by how many query terms their name and text contain; files without any
/// matching term are left out. Binary files (no text) export as `Unsupported`.
#[derive(Debug, Default)]
pub struct FakeDrive {
    state: Mutex<DriveState>,
}

impl FakeDrive {
    /// An empty drive.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Seeds a file as given, with its text (None for a binary file); replaces one with that id.
    pub fn add_file(&self, file: DriveFile, text: Option<&str>) {
        let mut s = lock(&self.state);
        s.files.retain(|(f, _)| f.id != file.id);
        s.files.push((file, text.map(str::to_owned)));
    }

    /// Seeds a text file named `name` (id `file-N`, a web link, no description); returns it.
    pub fn add_text_file(&self, name: &str, mime_type: &str, text: &str) -> DriveFile {
        let mut s = lock(&self.state);
        s.next_id += 1;
        let id = FileId::new(format!("file-{}", s.next_id));
        let file = DriveFile {
            web_link: Some(format!("https://drive.example/{id}")),
            id,
            name: name.to_owned(),
            mime_type: mime_type.to_owned(),
            description: None,
            modified_at: None,
            size: None,
        };
        s.files.push((file.clone(), Some(text.to_owned())));
        file
    }

    /// The ids passed to `export_text`, in order.
    #[must_use]
    pub fn exports(&self) -> Vec<FileId> {
        lock(&self.state).exports.clone()
    }
}

#[async_trait]
impl Drive for FakeDrive {
    async fn search(&self, query: &DriveQuery) -> Result<Vec<DriveFile>> {
        let terms: Vec<String> = query
            .text
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let name_part = query.name_contains.as_deref().map(str::to_lowercase);
        let s = lock(&self.state);
        let mut hits: Vec<(usize, usize, &DriveFile)> = s
            .files
            .iter()
            .enumerate()
            .filter_map(|(i, (f, text))| {
                let name = f.name.to_lowercase();
                if name_part
                    .as_ref()
                    .is_some_and(|p| !name.contains(p.as_str()))
                {
                    return None;
                }
                if !query.mime_types.is_empty() && !query.mime_types.contains(&f.mime_type) {
                    return None;
                }
                let body = text.as_deref().unwrap_or_default().to_lowercase();
                let score = terms
                    .iter()
                    .filter(|t| name.contains(t.as_str()) || body.contains(t.as_str()))
                    .count();
                (terms.is_empty() || score > 0).then_some((score, i, f))
            })
            .collect();
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let limit = if query.limit == 0 {
            usize::MAX
        } else {
            query.limit as usize
        };
        Ok(hits
            .into_iter()
            .take(limit)
            .map(|(_, _, f)| f.clone())
            .collect())
    }

    async fn get(&self, id: &FileId) -> Result<DriveFile> {
        lock(&self.state)
            .files
            .iter()
            .find(|(f, _)| &f.id == id)
            .map(|(f, _)| f.clone())
            .ok_or_else(|| Error::not_found(format!("file {id}")))
    }

    async fn export_text(&self, id: &FileId, max_bytes: usize) -> Result<String> {
        let mut s = lock(&self.state);
        let text = s
            .files
            .iter()
            .find(|(f, _)| &f.id == id)
            .map(|(f, t)| (f.mime_type.clone(), t.clone()))
            .ok_or_else(|| Error::not_found(format!("file {id}")))?;
        s.exports.push(id.clone());
        let (mime, text) = text;
        let Some(mut text) = text else {
            return Err(Error::unsupported(format!(
                "exporting {mime} files as text"
            )));
        };
        truncate_on_char_boundary(&mut text, max_bytes);
        Ok(text)
    }
}
