//! Unicode-aware keyword matching for the ICP rules.
//!
//! Text and keywords are *folded* before comparison: lower-cased with the full Unicode case
//! mapping, decomposed (NFKD, so full-width `ＣＥＯ` reads as `ceo`), stripped of combining marks
//! (so `Présidente` reads as `presidente`), with a few letters that do not decompose spelled out
//! (`ß` → `ss`, `œ` → `oe`, `ø` → `o`, `ł` → `l`, …), typographic apostrophes and dashes made
//! ASCII, and every run of white space made one space. Each folded character remembers which
//! character of the input it came from, so a match can be quoted as the input wrote it.
//!
//! A keyword matches on word boundaries: the characters either side of the match must not
//! continue the word. A letter or digit continues a word only when it is of the same script
//! family as the keyword's edge (Latin, other alphabets, or scripts written without spaces such
//! as Chinese and Japanese, where no boundary is needed at all), so `创始人CEO` has the word `ceo`
//! but `mvp` does not have `vp`. A keyword written `*leiter` may end a longer word
//! (`Vertriebsleiter`), one written `gründer*` may start one.

use std::collections::HashMap;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// A folded text with, for every folded character, the byte range of the input character it
/// came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Folded {
    chars: Vec<char>,
    src: Vec<(usize, usize)>,
    /// Where each folded character occurs, so a keyword is only compared where it could start.
    starts: HashMap<char, Vec<usize>>,
}

/// Letters that do not decompose into a base letter and marks, spelled as a reader would match
/// them (after lower-casing).
fn spell_out(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'ø' => "o",
        'ł' => "l",
        'đ' | 'ð' => "d",
        'þ' => "th",
        'ı' => "i",
        'ħ' => "h",
        'ŧ' => "t",
        // Final sigma is the same letter as σ (case folding does the same).
        'ς' => "σ",
        _ => return None,
    })
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{00B4}' | '`')
}

fn is_dash(c: char) -> bool {
    matches!(
        c,
        '\u{2010}'
            | '\u{2011}'
            | '\u{2012}'
            | '\u{2013}'
            | '\u{2014}'
            | '\u{2212}'
            | '\u{FE63}'
            | '\u{FF0D}'
    )
}

/// Folds `text` (see the module documentation).
pub(crate) fn fold(text: &str) -> Folded {
    let mut out = Folded {
        chars: Vec::with_capacity(text.len()),
        src: Vec::with_capacity(text.len()),
        starts: HashMap::new(),
    };
    for (start, c) in text.char_indices() {
        let range = (start, start + c.len_utf8());
        if c.is_ascii_alphanumeric() {
            out.chars.push(c.to_ascii_lowercase());
            out.src.push(range);
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            if out.chars.last().is_some_and(|&l| l != ' ') {
                out.chars.push(' ');
                out.src.push(range);
            }
            continue;
        }
        if is_apostrophe(c) {
            out.chars.push('\'');
            out.src.push(range);
            continue;
        }
        if is_dash(c) {
            out.chars.push('-');
            out.src.push(range);
            continue;
        }
        for lower in c.to_lowercase() {
            decompose_compatible(lower, |d| {
                if is_combining_mark(d) {
                    return;
                }
                // Compatibility decomposition may yield upper-case letters (`Ⅸ` → `IX`).
                for l in d.to_lowercase() {
                    if let Some(s) = spell_out(l) {
                        for x in s.chars() {
                            out.chars.push(x);
                            out.src.push(range);
                        }
                    } else if l.is_whitespace() {
                        if out.chars.last().is_some_and(|&p| p != ' ') {
                            out.chars.push(' ');
                            out.src.push(range);
                        }
                    } else {
                        out.chars.push(l);
                        out.src.push(range);
                    }
                }
            });
        }
    }
    if out.chars.last() == Some(&' ') {
        out.chars.pop();
        out.src.pop();
    }
    out
}

/// [`fold`] plus the index [`Folded::find_all`] needs (worth it for texts searched many times).
pub(crate) fn fold_indexed(text: &str) -> Folded {
    let mut out = fold(text);
    for (i, &c) in out.chars.iter().enumerate() {
        out.starts.entry(c).or_default().push(i);
    }
    out
}

/// A keyword ready for matching.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    chars: Vec<char>,
    /// `*keyword`: may end a longer word.
    open_start: bool,
    /// `keyword*`: may start a longer word.
    open_end: bool,
}

impl Pattern {
    /// Compiles a keyword; `None` when nothing is left to match after folding.
    pub(crate) fn new(keyword: &str) -> Option<Self> {
        let k = keyword.trim();
        let open_start = k.starts_with('*');
        let open_end = k.len() > 1 && k.ends_with('*');
        let core = k.trim_matches('*').trim();
        let chars = fold(core).chars;
        if chars.is_empty() {
            return None;
        }
        Some(Self {
            chars,
            open_start,
            open_end,
        })
    }
}

/// Script families for word boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Latin letters and every digit.
    Latin,
    /// Scripts written without spaces between words.
    Unspaced,
    /// Every other alphabet (Greek, Cyrillic, Arabic, …).
    Other,
}

fn family(c: char) -> Family {
    let u = u32::from(c);
    if c.is_ascii_alphanumeric()
        || c.is_numeric()
        || (0x00C0..=0x024F).contains(&u)
        || (0x1E00..=0x1EFF).contains(&u)
        || (0xFF21..=0xFF5A).contains(&u)
    {
        Family::Latin
    } else if (0x0E00..=0x0EFF).contains(&u) // Thai, Lao
        || (0x1000..=0x109F).contains(&u) // Myanmar
        || (0x1780..=0x17FF).contains(&u) // Khmer
        || (0x3040..=0x30FF).contains(&u) // Hiragana, Katakana
        || (0x3400..=0x4DBF).contains(&u) // CJK extension A
        || (0x4E00..=0x9FFF).contains(&u) // CJK unified ideographs
        || (0xF900..=0xFAFF).contains(&u) // CJK compatibility ideographs
        || (0xFF66..=0xFF9F).contains(&u) // half-width Katakana
        || (0x20000..=0x3FFFF).contains(&u)
    {
        Family::Unspaced
    } else {
        Family::Other
    }
}

/// True when `neighbour` (a text character next to a match) does not continue the word whose
/// edge is the keyword character `edge`.
fn is_boundary(neighbour: char, edge: char) -> bool {
    if !neighbour.is_alphanumeric() {
        return true;
    }
    if !edge.is_alphanumeric() {
        return false;
    }
    let (n, e) = (family(neighbour), family(edge));
    n != e || e == Family::Unspaced
}

/// One occurrence of a pattern: folded character positions `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Hit {
    pub(crate) fn len(self) -> usize {
        self.end - self.start
    }

    /// True when `other` lies inside `self` and is shorter.
    pub(crate) fn swallows(self, other: Hit) -> bool {
        self.start <= other.start && other.end <= self.end && self.len() > other.len()
    }
}

impl Folded {
    /// False when `keyword` certainly does not occur (its first letter is ASCII and not in the
    /// text) (`self` from [`fold_indexed`]). Only the tests use it now that the rules' keywords
    /// are compiled once (`scoring::matcher`).
    #[cfg(test)]
    pub(crate) fn may_contain(&self, keyword: &str) -> bool {
        match keyword
            .trim_start_matches(|c: char| c == '*' || c.is_whitespace())
            .chars()
            .next()
        {
            Some(c) if c.is_ascii_alphanumeric() => {
                self.starts.contains_key(&c.to_ascii_lowercase())
            }
            _ => true,
        }
    }

    /// Every occurrence of `p` on word boundaries, left to right (`self` from [`fold_indexed`]).
    pub(crate) fn find_all(&self, p: &Pattern) -> Vec<Hit> {
        let (t, k) = (&self.chars, &p.chars);
        let mut hits = Vec::new();
        if k.is_empty() || k.len() > t.len() {
            return hits;
        }
        let (first, last) = (k[0], k[k.len() - 1]);
        let Some(starts) = self.starts.get(&first) else {
            return hits;
        };
        for &start in starts {
            let end = start + k.len();
            if end > t.len() || t[start..end] != k[..] {
                continue;
            }
            // The match must begin and end on whole input characters.
            if start > 0 && self.src[start - 1] == self.src[start] {
                continue;
            }
            if end < t.len() && self.src[end - 1] == self.src[end] {
                continue;
            }
            let start_ok = p.open_start || start == 0 || is_boundary(t[start - 1], first);
            let end_ok = p.open_end || end == t.len() || is_boundary(t[end], last);
            if start_ok && end_ok {
                hits.push(Hit { start, end });
            }
        }
        hits
    }

    /// The input text of a hit, widened to the whole word where the pattern was open (so
    /// `*leiter` quotes `Vertriebsleiter`, not `leiter`).
    pub(crate) fn quote<'a>(&self, input: &'a str, hit: Hit, p: &Pattern) -> &'a str {
        let (mut s, mut e) = (hit.start, hit.end);
        if p.open_start {
            while s > 0 && self.chars[s - 1].is_alphanumeric() {
                s -= 1;
            }
        }
        if p.open_end {
            while e < self.chars.len() && self.chars[e].is_alphanumeric() {
                e += 1;
            }
        }
        if s >= e || e > self.src.len() {
            return "";
        }
        let from = self.src[s].0;
        let mut to = self.src[e - 1].1;
        // Combining marks after the last letter belong to it.
        if let Some(rest) = input.get(to..) {
            to += rest
                .chars()
                .take_while(|&c| is_combining_mark(c))
                .map(char::len_utf8)
                .sum::<usize>();
        }
        input.get(from..to).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(text: &str, keyword: &str) -> bool {
        let p = Pattern::new(keyword).unwrap();
        let f = fold_indexed(text);
        let found = !f.find_all(&p).is_empty();
        assert!(!found || f.may_contain(keyword), "{text:?} {keyword:?}");
        found
    }

    fn quote(text: &str, keyword: &str) -> String {
        let p = Pattern::new(keyword).unwrap();
        let f = fold_indexed(text);
        let hit = f.find_all(&p)[0];
        f.quote(text, hit, &p).to_owned()
    }

    #[test]
    fn folding_ignores_case_accents_and_spacing() {
        let s: String = fold("  Geschäftsführerin\u{a0} ÉTATS–Unis  Straße ＣＥＯ d’Équipe ")
            .chars
            .into_iter()
            .collect();
        assert_eq!(s, "geschaftsfuhrerin etats-unis strasse ceo d'equipe");
        // Decomposed input folds like composed input.
        assert_eq!(fold("Pre\u{301}sident").chars, fold("Président").chars);
        // Dotted capital I folds to i; final sigma to sigma.
        assert_eq!(fold("İ").chars, ['i']);
        assert_eq!(fold("ΟΔΟΣ").chars, fold("οδος").chars);
    }

    #[test]
    fn boundaries_are_unicode_aware() {
        assert!(has("VP Sales", "vp"));
        assert!(!has("MVP builder", "vp"));
        assert!(!has("überceo", "ceo"));
        assert!(has("über-ceo", "ceo"));
        assert!(has("创始人CEO", "ceo"));
        assert!(has("CEO创始人", "创始人"));
        assert!(has("公司创始人兼CEO", "创始人"));
        assert!(has("Основатель/CEO", "основатель"));
        assert!(!has("сооснователь", "основатель"));
        assert!(has("head  of\tIT", "head of"));
        assert!(!has("", "x"));
        assert!(!has("ceo2", "ceo"));
    }

    #[test]
    fn open_keywords_match_inside_compounds() {
        assert!(has("Vertriebsleiter", "*leiter"));
        assert!(!has("Vertriebsleiter", "leiter"));
        assert!(!has("Leitern", "*leiter"));
        assert!(has("Gründerteam", "gründer*"));
        assert_eq!(
            quote("Stv. Vertriebsleiterin DACH", "*leiterin"),
            "Vertriebsleiterin"
        );
    }

    #[test]
    fn quotes_are_the_input_as_written() {
        assert_eq!(
            quote("Vice-Présidente Ventes", "vice-presidente"),
            "Vice-Présidente"
        );
        assert_eq!(
            quote("GESCHÄFTSFÜHRER", "geschaftsfuhrer"),
            "GESCHÄFTSFÜHRER"
        );
        assert_eq!(
            quote("Leiter  Marketing", "leiter marketing"),
            "Leiter  Marketing"
        );
        assert_eq!(quote("Pre\u{301}sident", "president"), "Pre\u{301}sident");
        assert_eq!(quote("Straße", "strasse"), "Straße");
        assert_eq!(
            quote("Presidente\u{301} x", "presidente"),
            "Presidente\u{301}"
        );
        // A match may not end inside one input character's expansion.
        assert!(!has("Straße", "stras"));
    }

    #[test]
    fn empty_keywords_do_not_compile() {
        assert!(Pattern::new("").is_none());
        assert!(Pattern::new(" * ").is_none());
        assert!(Pattern::new("\u{301}").is_none());
    }
}
