//! Small text encodings used across the crates: HTML escaping and lower-case hex.
//!
//! One implementation each, so the web pages, the MIME HTML alternative and connector payloads
//! escape the same way, and digests print the same way everywhere.

use std::fmt::Write as _;

/// Escapes text for HTML element content and attribute values (`& < > " '`).
///
/// ```
/// use salesagent_core::encoding::escape_html;
/// assert_eq!(escape_html("<b>Tom & \"Jo\"</b>"), "&lt;b&gt;Tom &amp; &quot;Jo&quot;&lt;/b&gt;");
/// ```
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Lower-case hex of the bytes, two digits a byte.
///
/// ```
/// use salesagent_core::encoding::to_hex;
/// assert_eq!(to_hex(&[0x00, 0xab, 0x7f]), "00ab7f");
/// ```
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The bytes of a hex string (either case), or `None` when its length is odd or a character
/// is not a hex digit.
///
/// ```
/// use salesagent_core::encoding::from_hex;
/// assert_eq!(from_hex("00aB7f"), Some(vec![0x00, 0xab, 0x7f]));
/// assert_eq!(from_hex("abc"), None);
/// assert_eq!(from_hex("zz"), None);
/// ```
#[must_use]
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character_once() {
        assert_eq!(
            escape_html("a&b<c>d\"e'f\n"),
            "a&amp;b&lt;c&gt;d&quot;e&#39;f\n"
        );
        assert_eq!(escape_html("plain ü"), "plain ü");
    }

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&to_hex(&bytes)), Some(bytes));
        assert_eq!(from_hex(""), Some(Vec::new()));
        assert_eq!(from_hex("0g"), None);
    }
}
