//! Drive requests (`Drive` port).

use super::GoogleDrive;
use super::model::{FILE_FIELDS, File, FileList};
use crate::http::Request;
use async_trait::async_trait;
use salesagent_core::model::{DriveFile, DriveQuery, FileId, truncate_on_char_boundary};
use salesagent_core::ports::Drive;
use salesagent_core::{Error, Result};

/// Export format for Google-native files; `None` = not exportable as text.
fn export_mime(mime: &str) -> Option<&'static str> {
    match mime {
        "application/vnd.google-apps.document" | "application/vnd.google-apps.presentation" => {
            Some("text/plain")
        }
        "application/vnd.google-apps.spreadsheet" => Some("text/csv"),
        _ => None,
    }
}

/// Plain files whose bytes are text.
fn is_text(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/json" | "application/xml" | "application/csv" | "application/x-yaml"
        )
}

/// Escapes a value for a Drive query string literal.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars().filter(|c| !c.is_control()) {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// The Drive `q` for a query.
#[must_use]
pub fn drive_query(q: &DriveQuery) -> String {
    let mut parts = vec!["trashed = false".to_owned()];
    if let Some(t) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        parts.push(format!("fullText contains {}", literal(t)));
    }
    if let Some(n) = q
        .name_contains
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        parts.push(format!("name contains {}", literal(n)));
    }
    if !q.mime_types.is_empty() {
        let any = q
            .mime_types
            .iter()
            .map(|m| format!("mimeType = {}", literal(m)))
            .collect::<Vec<_>>()
            .join(" or ");
        parts.push(format!("({any})"));
    }
    parts.join(" and ")
}

fn to_file(f: File) -> Result<DriveFile> {
    Ok(DriveFile {
        id: FileId::new(f.id.ok_or_else(|| Error::backend("drive: file without id"))?),
        name: f.name.unwrap_or_default(),
        mime_type: f.mime_type.unwrap_or_default(),
        web_link: f.web_view_link,
        description: f.description,
        modified_at: f
            .modified_time
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
        size: f.size.and_then(|s| s.parse().ok()),
    })
}

fn text_of(mut bytes: Vec<u8>, max: usize) -> String {
    bytes.truncate(max.saturating_add(4));
    let mut s = String::from_utf8_lossy(&bytes).into_owned();
    truncate_on_char_boundary(&mut s, max);
    s
}

impl GoogleDrive {
    fn files(rest: &[&str]) -> Vec<String> {
        let mut p = vec!["drive".to_owned(), "v3".to_owned(), "files".to_owned()];
        p.extend(rest.iter().map(|s| (*s).to_owned()));
        p
    }

    /// A harmless authenticated read: a list of one file.
    pub async fn check(&self) -> Result<()> {
        let r = Request::get("files.list", Self::files(&[]))
            .query("pageSize", "1")
            .query("fields", "files(id)");
        self.http.send(&r).await.map(|_| ())
    }
}

#[async_trait]
impl Drive for GoogleDrive {
    async fn search(&self, query: &DriveQuery) -> Result<Vec<DriveFile>> {
        let size = match query.limit {
            0 => 10,
            n => n.min(100),
        };
        let mut r = Request::get("files.list", Self::files(&[]))
            .query("q", drive_query(query))
            .query("pageSize", size.to_string())
            .query("fields", format!("nextPageToken,files({FILE_FIELDS})"))
            .query("supportsAllDrives", "true")
            .query("includeItemsFromAllDrives", "true");
        // Full-text results come in relevance order; otherwise newest first.
        if query.text.as_deref().is_none_or(|t| t.trim().is_empty()) {
            r = r.query("orderBy", "modifiedTime desc");
        }
        let list: FileList = self.http.send(&r).await?.json("drive")?;
        list.files.into_iter().map(to_file).collect()
    }

    async fn get(&self, id: &FileId) -> Result<DriveFile> {
        let r = Request::get("files.get", Self::files(&[id.as_str()]))
            .query("fields", FILE_FIELDS)
            .query("supportsAllDrives", "true");
        to_file(self.http.send(&r).await?.json("drive")?)
    }

    async fn export_text(&self, id: &FileId, max_bytes: usize) -> Result<String> {
        let meta = self.get(id).await?;
        let cap = max_bytes.saturating_add(4);
        let resp = if let Some(target) = export_mime(&meta.mime_type) {
            let r = Request::get("files.export", Self::files(&[id.as_str(), "export"]))
                .query("mimeType", target)
                .max_body(cap);
            self.http.send(&r).await?
        } else if is_text(&meta.mime_type) {
            let r = Request::get("files.get", Self::files(&[id.as_str()]))
                .query("alt", "media")
                .query("supportsAllDrives", "true")
                .max_body(cap);
            self.http.send(&r).await?
        } else {
            return Err(Error::unsupported(format!(
                "drive: text of a {} file",
                meta.mime_type
            )));
        };
        Ok(text_of(resp.body, max_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_escape_literals() {
        let q = DriveQuery {
            text: Some("O'Brien case\\study".into()),
            name_contains: Some("deck".into()),
            mime_types: vec![
                "application/pdf".into(),
                "application/vnd.google-apps.document".into(),
            ],
            limit: 5,
        };
        assert_eq!(
            drive_query(&q),
            "trashed = false and fullText contains 'O\\'Brien case\\\\study' and name contains 'deck' and (mimeType = 'application/pdf' or mimeType = 'application/vnd.google-apps.document')"
        );
    }

    #[test]
    fn text_is_cut_on_a_char_boundary() {
        assert_eq!(text_of("héllo".as_bytes().to_vec(), 2), "h");
        assert_eq!(text_of(b"abc".to_vec(), 10), "abc");
    }
}
