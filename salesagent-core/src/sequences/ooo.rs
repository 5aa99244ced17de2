//! Out-of-office replies: recognising them and reading the return date they state.
//!
//! A reply is out-of-office when the classifier calls it automatic
//! ([`MailKind::Automatic`]) and its subject or new text has out-of-office wording (the phrase
//! lists of [`outcomes::reply_text`](crate::outcomes::reply_text)), or it states a return date after an
//! absence phrase. The return date is read in English, German, French and Spanish:
//!
//! - after "until / till / through", "bis (zum)", "jusqu'au", "hasta (el)" the date is the last
//!   day away: the contact is back the day after;
//! - after "back (on)", "returning (on)", "return (on)", "zurück am", "ab (dem)", "wieder am",
//!   "de retour le", "retour le", "à partir du", "de vuelta el", "regreso el",
//!   "a partir del" the date is the day they are back.
//!
//! Dates: `2026-12-14`, `14.12.(2026)`, `14/12/2026` (month first after an English phrase when
//! both readings are possible), `14 December (2026)`, `14th of December`, `December 14(th)(,
//! 2026)`, `14. Dezember`, `14 de diciembre (de 2026)`, a weekday name alone (its next
//! occurrence), `tomorrow` / `morgen` / `demain` / `mañana`. A date without a year is the next
//! one on or after the day the reply arrived; a date more than 120 days away, or not after the
//! reply, is not believed (the default pause applies).

use crate::outcomes::classify::{Classification, MailKind};
use crate::outcomes::reply_text as text;
use chrono::{Datelike, Days, NaiveDate, Weekday};

/// True when `c` is an out-of-office reply (see the module documentation).
#[must_use]
pub fn is_out_of_office(c: &Classification) -> bool {
    if c.kind != MailKind::Automatic {
        return false;
    }
    if text::out_of_office_subject(&c.subject).is_some()
        || text::out_of_office_body(&c.new_text).is_some()
        || c.reason.contains("out-of-office")
    {
        return true;
    }
    let lower = c.new_text.to_lowercase();
    ABSENCE_WORDS
        .iter()
        .any(|w| text::contains_phrase(&lower, w))
}

/// Words that, in an automatic reply, say the person is away.
const ABSENCE_WORDS: &[&str] = &[
    "out of office",
    "on leave",
    "on vacation",
    "on holiday",
    "away until",
    "back on",
    "abwesend",
    "im urlaub",
    "absent",
    "en congé",
    "de vacaciones",
    "ausente",
];

/// Phrases after which the date is the last day away.
const UNTIL: &[(&str, bool)] = &[
    ("until", true),
    ("till", true),
    ("through", true),
    ("bis zum", false),
    ("bis", false),
    ("jusqu'au", false),
    ("jusqu’au", false),
    ("jusqu'à", false),
    ("hasta el", false),
    ("hasta", false),
];

/// Phrases after which the date is the day they are back.
const BACK: &[(&str, bool)] = &[
    ("back in the office on", true),
    ("back in the office", true),
    ("back on", true),
    ("back", true),
    ("returning on", true),
    ("returning", true),
    ("return on", true),
    ("zurück am", false),
    ("wieder im büro am", false),
    ("wieder am", false),
    ("ab dem", false),
    ("ab", false),
    ("de retour le", false),
    ("retour le", false),
    ("à partir du", false),
    ("de vuelta el", false),
    ("regreso el", false),
    ("a partir del", false),
];

/// The day the sender of an out-of-office `text` is back, read as described in the module
/// documentation; `received` is the day (in the recipient's zone) the reply arrived. `None`
/// when no believable date is stated.
#[must_use]
pub fn return_date(text: &str, received: NaiveDate) -> Option<NaiveDate> {
    let lower = text.to_lowercase();
    let mut best: Option<(usize, NaiveDate)> = None;
    for (phrases, last_day) in [(UNTIL, true), (BACK, false)] {
        for (phrase, english) in phrases {
            let mut from = 0;
            while let Some(pos) = lower[from..].find(phrase) {
                let start = from + pos;
                let end = start + phrase.len();
                from = end;
                let before_ok = lower[..start]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_alphanumeric());
                let after_ok = lower[end..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric());
                if !before_ok || !after_ok {
                    continue;
                }
                let Some(date) = date_after(&lower[end..], *english, received) else {
                    continue;
                };
                let back = if last_day {
                    date.checked_add_days(Days::new(1))?
                } else {
                    date
                };
                if back <= received || (back - received).num_days() > 120 {
                    continue;
                }
                if best.is_none_or(|(p, _)| start < p) {
                    best = Some((start, back));
                }
            }
        }
    }
    best.map(|(_, d)| d)
}

const FILLERS: &[&str] = &[
    "the",
    "on",
    "of",
    "der",
    "dem",
    "den",
    "zum",
    "am",
    "le",
    "el",
    "la",
    "del",
    "de",
    "du",
    "inclusive",
    "including",
    "einschließlich",
    "inclus",
    "incluido",
    "-",
    "–",
];

fn clean(tok: &str) -> &str {
    tok.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '(' | ')' | '!' | '"' | '\''))
}

fn date_after(rest: &str, english: bool, received: NaiveDate) -> Option<NaiveDate> {
    let window: String = rest.chars().take(80).collect();
    let toks: Vec<&str> = window
        .split_whitespace()
        .map(clean)
        .filter(|t| !t.is_empty())
        .collect();
    let mut weekday = None;
    let mut i = 0;
    while i < toks.len() && i < 8 {
        let t = toks[i];
        let word = t.trim_end_matches('.');
        if FILLERS.contains(&word) {
            i += 1;
            continue;
        }
        if let Some(d) = relative_day(word) {
            return received.checked_add_days(Days::new(d));
        }
        if let Some(w) = weekday_of(word) {
            weekday = Some(w);
            i += 1;
            continue;
        }
        if let Some(d) = date_at(&toks[i..], english, received) {
            return Some(d);
        }
        break;
    }
    let w = weekday?;
    (1..=7)
        .filter_map(|n| received.checked_add_days(Days::new(n)))
        .find(|d| d.weekday() == w)
}

/// A date starting at `toks[0]`.
fn date_at(toks: &[&str], english: bool, received: NaiveDate) -> Option<NaiveDate> {
    let t = toks.first()?.trim_end_matches(['.', ',']);
    let raw = *toks.first()?;
    // 2026-12-14
    let dashed: Vec<&str> = t.split('-').collect();
    if dashed.len() == 3 && dashed[0].len() == 4 {
        let y = dashed[0].parse().ok()?;
        return NaiveDate::from_ymd_opt(y, dashed[1].parse().ok()?, dashed[2].parse().ok()?);
    }
    // 14.12.(2026) and 12/14/2026
    for sep in ['.', '/'] {
        let parts: Vec<&str> = t.split(sep).filter(|p| !p.is_empty()).collect();
        if parts.len() >= 2
            && parts.len() <= 3
            && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
        {
            let a: u32 = parts[0].parse().ok()?;
            let b: u32 = parts[1].parse().ok()?;
            // After an English phrase a slashed date is read month first when it can be.
            let (day, month) = if sep == '/' && english && a <= 12 {
                (b, a)
            } else {
                (a, b)
            };
            let year = parts.get(2).and_then(|y| full_year(y));
            return with_year(year, month, day, received);
        }
    }
    // 14 December, 14th of December, 14. Dezember, 14 de diciembre
    if let Some(day) = ordinal(t).or_else(|| ordinal(raw)) {
        let mut j = 1;
        while toks
            .get(j)
            .is_some_and(|w| FILLERS.contains(&clean(w).trim_end_matches('.')))
        {
            j += 1;
        }
        let month = month_of(toks.get(j)?.trim_end_matches(['.', ',']))?;
        let year = year_after(&toks[j + 1..]);
        return with_year(year, month, day, received);
    }
    // December 14(th)(, 2026)
    if let Some(month) = month_of(t) {
        let day = ordinal(toks.get(1)?.trim_end_matches([',', '.']))?;
        let year = year_after(&toks[2..]);
        return with_year(year, month, day, received);
    }
    None
}

fn year_after(toks: &[&str]) -> Option<i32> {
    let mut it = toks.iter().map(|t| t.trim_end_matches(['.', ',']));
    let first = it.next()?;
    if first == "de" {
        return it.next().and_then(full_year);
    }
    full_year(first)
}

fn full_year(s: &str) -> Option<i32> {
    let s = s.trim_end_matches(['.', ',']);
    if s.len() == 4 && s.chars().all(|c| c.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn with_year(year: Option<i32>, month: u32, day: u32, received: NaiveDate) -> Option<NaiveDate> {
    if let Some(y) = year {
        return NaiveDate::from_ymd_opt(y, month, day);
    }
    let this = NaiveDate::from_ymd_opt(received.year(), month, day);
    match this {
        Some(d) if d >= received => Some(d),
        _ => NaiveDate::from_ymd_opt(received.year() + 1, month, day),
    }
}

fn ordinal(s: &str) -> Option<u32> {
    let s = s.trim_end_matches('.');
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let suffix = &s[digits.len()..];
    if digits.is_empty() || !["", "st", "nd", "rd", "th", "er", "e", "º", "o"].contains(&suffix) {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    (1..=31).contains(&n).then_some(n)
}

fn relative_day(w: &str) -> Option<u64> {
    match w {
        "tomorrow" | "morgen" | "demain" | "mañana" => Some(1),
        _ => None,
    }
}

fn weekday_of(w: &str) -> Option<Weekday> {
    Some(match w {
        "monday" | "mon" | "montag" | "lundi" | "lunes" => Weekday::Mon,
        "tuesday" | "tue" | "tues" | "dienstag" | "mardi" | "martes" => Weekday::Tue,
        "wednesday" | "wed" | "mittwoch" | "mercredi" | "miércoles" | "miercoles" => Weekday::Wed,
        "thursday" | "thu" | "thurs" | "donnerstag" | "jeudi" | "jueves" => Weekday::Thu,
        "friday" | "fri" | "freitag" | "vendredi" | "viernes" => Weekday::Fri,
        "saturday" | "sat" | "samstag" | "sonnabend" | "samedi" | "sábado" | "sabado" => {
            Weekday::Sat
        }
        "sunday" | "sun" | "sonntag" | "dimanche" | "domingo" => Weekday::Sun,
        _ => return None,
    })
}

fn month_of(w: &str) -> Option<u32> {
    Some(match w {
        "january" | "jan" | "januar" | "jänner" | "janvier" | "enero" => 1,
        "february" | "feb" | "februar" | "février" | "fevrier" | "febrero" => 2,
        "march" | "mar" | "märz" | "maerz" | "mär" | "mars" | "marzo" => 3,
        "april" | "apr" | "avril" | "abril" => 4,
        "may" | "mai" | "mayo" => 5,
        "june" | "jun" | "juni" | "juin" | "junio" => 6,
        "july" | "jul" | "juli" | "juillet" | "julio" => 7,
        "august" | "aug" | "août" | "aout" | "agosto" => 8,
        "september" | "sep" | "sept" | "septembre" | "septiembre" | "setiembre" => 9,
        "october" | "oct" | "oktober" | "okt" | "octobre" | "octubre" => 10,
        "november" | "nov" | "novembre" | "noviembre" => 11,
        "december" | "dec" | "dezember" | "dez" | "décembre" | "decembre" | "diciembre" => 12,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    #[test]
    fn return_dates_in_four_languages() {
        let got = |s: &str| return_date(s, d(12, 2));
        assert_eq!(
            got("I am out of the office until December 14."),
            Some(d(12, 15))
        );
        assert_eq!(
            got("I'm out of the office until 14th of December"),
            Some(d(12, 15))
        );
        assert_eq!(
            got("Out of office until Monday, December 14, 2026"),
            Some(d(12, 15))
        );
        assert_eq!(got("I will be back on Monday"), Some(d(12, 7)));
        assert_eq!(got("back in the office on 2026-12-10"), Some(d(12, 10)));
        assert_eq!(
            got("Out until 12/10/2026 with limited access"),
            Some(d(12, 11))
        );
        assert_eq!(got("Ich bin bis zum 10.12. nicht im Büro"), Some(d(12, 11)));
        assert_eq!(got("Ich bin bis 10. Dezember im Urlaub"), Some(d(12, 11)));
        assert_eq!(got("Ab dem 14.12.2026 bin ich wieder da"), Some(d(12, 14)));
        assert_eq!(got("Je suis absent jusqu'au 11 décembre"), Some(d(12, 12)));
        assert_eq!(got("de retour le lundi 14 décembre"), Some(d(12, 14)));
        assert_eq!(
            got("Estoy fuera de la oficina hasta el 9 de diciembre"),
            Some(d(12, 10))
        );
        assert_eq!(got("Regreso el 15 de diciembre de 2026"), Some(d(12, 15)));
        assert_eq!(
            got("until January 5"),
            Some(NaiveDate::from_ymd_opt(2027, 1, 6).unwrap())
        );
        assert_eq!(
            got("I am out of the office with limited access to email"),
            None
        );
        assert_eq!(got("until 2027-09-01"), None); // too far to believe
        assert_eq!(got("out until yesterday"), None);
        assert_eq!(got("returning tomorrow"), Some(d(12, 3)));
    }
}
