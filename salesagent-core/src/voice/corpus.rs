//! Reading sample messages from files: `.txt` (`Subject: …`, a blank line, the body) and `.eml`
//! (RFC 5322), one file or whole directory trees.

use super::segments;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Largest file read as a sample (bigger files are refused, not truncated).
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// One sample message read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusMessage {
    /// Where it was read from.
    pub path: PathBuf,
    /// The subject, when the file had one.
    pub subject: Option<String>,
    /// The body (for `.eml`, the authored text with quotes and signatures stripped).
    pub body: String,
}

/// Splits the text of a `.txt` sample: a first line `Subject: …` and a blank line before the
/// body. Without a `Subject:` line, the whole text is the body.
#[must_use]
pub fn parse_txt(content: &str) -> (Option<String>, String) {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let normalized = content.replace("\r\n", "\n");
    let first = normalized.lines().next().unwrap_or("");
    let Some(subject) = first
        .get(..8)
        .filter(|p| p.eq_ignore_ascii_case("subject:"))
        .map(|_| first[8..].trim().to_owned())
    else {
        return (None, normalized.trim().to_owned());
    };
    let body = normalized
        .split_once("\n\n")
        .map_or("", |(_, b)| b)
        .trim()
        .to_owned();
    (Some(subject), body)
}

/// Reads one `.txt` or `.eml` file. `InvalidInput` for another extension, non-UTF-8 text,
/// an unparseable `.eml` or a file over [`MAX_FILE_BYTES`]; `NotFound` when it does not exist.
pub fn read_file(path: &Path) -> Result<CorpusMessage> {
    let kind = extension(path).ok_or_else(|| {
        Error::invalid(
            "path",
            format!("{}: not a .txt or .eml file", path.display()),
        )
    })?;
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, &e))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(Error::invalid(
            "path",
            format!("{}: larger than {MAX_FILE_BYTES} bytes", path.display()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| io_error(path, &e))?;
    match kind {
        Kind::Txt => {
            let content = String::from_utf8(bytes).map_err(|_| {
                Error::invalid("path", format!("{}: not UTF-8 text", path.display()))
            })?;
            let (subject, body) = parse_txt(&content);
            Ok(CorpusMessage {
                path: path.to_owned(),
                subject,
                body,
            })
        }
        Kind::Eml => {
            let parsed = mail_parser::MessageParser::default()
                .parse(&bytes)
                .ok_or_else(|| {
                    Error::invalid(
                        "path",
                        format!("{}: not an RFC 5322 message", path.display()),
                    )
                })?;
            let subject = parsed.subject().map(str::to_owned);
            let body = segments::strip_non_authored(&parsed.body_text(0).unwrap_or_default());
            Ok(CorpusMessage {
                path: path.to_owned(),
                subject,
                body,
            })
        }
    }
}

/// Reads every `.txt` and `.eml` file under the given files and directories (recursively,
/// in path order; other files inside directories are skipped, but a file named explicitly must
/// be `.txt` or `.eml`). Errors as [`read_file`].
pub fn read_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<CorpusMessage>> {
    let mut files = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let meta = std::fs::metadata(p).map_err(|e| io_error(p, &e))?;
        if meta.is_dir() {
            collect_dir(p, &mut files)?;
        } else {
            files.push(p.to_owned());
        }
    }
    files.iter().map(|f| read_file(f)).collect()
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_error(dir, &e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| io_error(dir, &e)))
        .collect::<Result<_>>()?;
    entries.sort();
    for path in entries {
        // Symlinked directories are not followed, so a loop cannot recurse forever.
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io_error(&path, &e))?;
        if meta.is_dir() {
            collect_dir(&path, out)?;
        } else if extension(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Txt,
    Eml,
}

fn extension(path: &Path) -> Option<Kind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "txt" => Some(Kind::Txt),
        "eml" => Some(Kind::Eml),
        _ => None,
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::not_found(path.display().to_string()),
        std::io::ErrorKind::PermissionDenied => Error::PermissionDenied {
            reason: path.display().to_string(),
        },
        _ => Error::backend(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "salesagent-voice-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn parses_txt_samples() {
        assert_eq!(
            parse_txt("Subject: Deal\n\nHi Bob,\nSee you.\n"),
            (Some("Deal".to_owned()), "Hi Bob,\nSee you.".to_owned())
        );
        assert_eq!(
            parse_txt("Subject:\r\n\r\nbody"),
            (Some(String::new()), "body".to_owned())
        );
        assert_eq!(parse_txt("just a body"), (None, "just a body".to_owned()));
        assert_eq!(
            parse_txt("Subject: only"),
            (Some("only".to_owned()), String::new())
        );
    }

    #[test]
    fn reads_trees_of_txt_and_eml() {
        let dir = scratch("tree");
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/1.txt"), "Subject: One\n\nFirst body.").unwrap();
        std::fs::write(
            dir.join("a/b/2.eml"),
            "From: a@x.com\r\nSubject: Two\r\n\r\nSecond body.\r\n> quoted\r\n",
        )
        .unwrap();
        std::fs::write(dir.join("a/notes.md"), "ignored").unwrap();
        let msgs = read_paths(&[&dir]).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].subject.as_deref(), Some("One"));
        assert_eq!(msgs[0].body, "First body.");
        assert_eq!(msgs[1].subject.as_deref(), Some("Two"));
        assert_eq!(msgs[1].body, "Second body.");

        let err = read_paths(&[dir.join("a/notes.md")]).unwrap_err();
        assert_eq!(err.kind(), "invalid_input");
        let err = read_paths(&[dir.join("missing.txt")]).unwrap_err();
        assert_eq!(err.kind(), "not_found");
        std::fs::write(dir.join("bad.txt"), [0xff, 0xfe, 0x00]).unwrap();
        assert_eq!(
            read_file(&dir.join("bad.txt")).unwrap_err().kind(),
            "invalid_input"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
