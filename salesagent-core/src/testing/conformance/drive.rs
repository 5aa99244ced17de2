//! The drive conformance suite.

use super::{expect_err, ok};
use crate::model::{DriveQuery, FileId};
use crate::ports::Drive;

/// What the drive under test holds (the port cannot create files).
#[derive(Debug, Clone)]
pub struct DriveFixture {
    /// A text file: its id, a word its text contains (found by search) and a phrase of its text.
    pub text_file: Option<(FileId, String, String)>,
    /// A binary file (export gives `Unsupported`).
    pub binary_file: Option<FileId>,
    /// An id no file has.
    pub unknown_id: FileId,
}

impl Default for DriveFixture {
    fn default() -> Self {
        Self {
            text_file: None,
            binary_file: None,
            unknown_id: FileId::new("conformance-missing-file"),
        }
    }
}

/// Runs the drive suite against `drive`.
pub async fn run<D: Drive + ?Sized>(drive: &D, fixture: &DriveFixture) {
    expect_err(
        drive.get(&fixture.unknown_id).await,
        "not_found",
        "drive: get of an unknown id",
    );
    expect_err(
        drive.export_text(&fixture.unknown_id, 1000).await,
        "not_found",
        "drive: export_text of an unknown id",
    );
    if let Some((id, term, phrase)) = &fixture.text_file {
        let file = ok(drive.get(id).await, "get");
        assert_eq!(&file.id, id, "drive: get returns the file asked for");
        let full = ok(drive.export_text(id, 1 << 20).await, "export_text");
        assert!(
            full.contains(phrase.as_str()),
            "drive: the exported text contains the fixture's phrase"
        );
        for max in [0, 1, 7, full.len() / 2] {
            let cut = ok(drive.export_text(id, max).await, "export_text with a cap");
            assert!(
                cut.len() <= max,
                "drive: export_text({max}) returned {} bytes",
                cut.len()
            );
            assert!(
                full.starts_with(&cut),
                "drive: a capped export is a prefix of the full text"
            );
            assert!(
                full.len() <= max || cut.len() + 4 > max,
                "drive: a capped export cuts at most one character short"
            );
        }
        let hits = ok(
            drive
                .search(&DriveQuery {
                    text: Some(term.clone()),
                    ..DriveQuery::default()
                })
                .await,
            "search",
        );
        assert!(
            hits.iter().any(|f| &f.id == id),
            "drive: a full-text search for {term:?} finds the file"
        );
        let prefix: String = file.name.chars().take(3).collect();
        let by_name = ok(
            drive
                .search(&DriveQuery {
                    name_contains: Some(prefix),
                    ..DriveQuery::default()
                })
                .await,
            "search by name",
        );
        assert!(
            by_name.iter().any(|f| &f.id == id),
            "drive: a name search finds the file"
        );
        let other_type = ok(
            drive
                .search(&DriveQuery {
                    text: Some(term.clone()),
                    mime_types: vec!["application/x-conformance-none".into()],
                    ..DriveQuery::default()
                })
                .await,
            "search by type",
        );
        assert!(
            other_type.iter().all(|f| &f.id != id),
            "drive: the MIME type filter excludes other types"
        );
        let one = ok(
            drive
                .search(&DriveQuery {
                    text: Some(term.clone()),
                    limit: 1,
                    ..DriveQuery::default()
                })
                .await,
            "search with limit",
        );
        assert!(one.len() <= 1, "drive: search honours the limit");
    }
    if let Some(id) = &fixture.binary_file {
        expect_err(
            drive.export_text(id, 1000).await,
            "unsupported",
            "drive: exporting a binary file as text",
        );
    }
}
