//! A word-level diff of the model's draft against the operator's edit, rendered as HTML with
//! `<del>` and `<ins>` (computed on the server, so the page needs no script for it).

use super::esc;

/// Splits text into words and the whitespace between them (both kept, so the pieces join back
/// to the text).
fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|was| was != space) {
            out.push(&s[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Largest number of token pairs compared by the longest-common-subsequence table; longer
/// middles are shown as one removal and one insertion.
const MAX_CELLS: usize = 4_000_000;

/// One piece of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// In both.
    Same(&'a str),
    /// Only in the original.
    Removed(&'a str),
    /// Only in the edit.
    Added(&'a str),
}

/// The word-level difference from `old` to `new`.
pub(crate) fn diff<'a>(old: &'a str, new: &'a str) -> Vec<Piece<'a>> {
    let a = tokens(old);
    let b = tokens(new);
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut out: Vec<Piece<'a>> = a[..prefix].iter().map(|t| Piece::Same(t)).collect();
    if am.len().saturating_mul(bm.len()) > MAX_CELLS {
        out.extend(am.iter().map(|t| Piece::Removed(t)));
        out.extend(bm.iter().map(|t| Piece::Added(t)));
    } else {
        // lcs[i][j]: longest common subsequence of am[i..] and bm[j..].
        let w = bm.len() + 1;
        let mut lcs = vec![0u32; (am.len() + 1) * w];
        for i in (0..am.len()).rev() {
            for j in (0..bm.len()).rev() {
                lcs[i * w + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < am.len() || j < bm.len() {
            if i < am.len() && j < bm.len() && am[i] == bm[j] {
                out.push(Piece::Same(am[i]));
                i += 1;
                j += 1;
            } else if i < am.len() && (j == bm.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])
            {
                out.push(Piece::Removed(am[i]));
                i += 1;
            } else {
                out.push(Piece::Added(bm[j]));
                j += 1;
            }
        }
    }
    out.extend(a[a.len() - suffix..].iter().map(|t| Piece::Same(t)));
    out
}

/// The diff as HTML: unchanged text escaped, removals in `<del>`, insertions in `<ins>`
/// (neighbouring pieces of one kind merged).
pub(crate) fn diff_html(old: &str, new: &str) -> String {
    let mut out = String::new();
    let mut open: Option<&str> = None;
    for p in diff(old, new) {
        let (tag, text) = match p {
            Piece::Same(t) => (None, t),
            Piece::Removed(t) => (Some("del"), t),
            Piece::Added(t) => (Some("ins"), t),
        };
        if open != tag {
            if let Some(t) = open {
                out.push_str(&format!("</{t}>"));
            }
            if let Some(t) = tag {
                out.push_str(&format!("<{t}>"));
            }
            open = tag;
        }
        out.push_str(&esc(text));
    }
    if let Some(t) = open {
        out.push_str(&format!("</{t}>"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_changed_are_marked() {
        assert_eq!(
            diff_html("Hi Ann, a short call?", "Hi Ann, a quick call?"),
            "Hi Ann, a <del>short</del><ins>quick</ins> call?"
        );
        assert_eq!(diff_html("same", "same"), "same");
        assert_eq!(diff_html("", "new <b>"), "<ins>new &lt;b&gt;</ins>");
        assert_eq!(diff_html("gone", ""), "<del>gone</del>");
    }

    #[test]
    fn pieces_join_back_to_both_texts() {
        let (old, new) = ("one two  three\nfour", "one 2 three\nfour five");
        let d = diff(old, new);
        let back_old: String = d
            .iter()
            .filter_map(|p| match p {
                Piece::Same(t) | Piece::Removed(t) => Some(*t),
                Piece::Added(_) => None,
            })
            .collect();
        let back_new: String = d
            .iter()
            .filter_map(|p| match p {
                Piece::Same(t) | Piece::Added(t) => Some(*t),
                Piece::Removed(_) => None,
            })
            .collect();
        assert_eq!((back_old.as_str(), back_new.as_str()), (old, new));
    }
}
