//! Using a profile when writing: a compact style guide for the LLM prompt, and deterministic
//! post-processing of a draft (greeting, sign-off, length) that the template writer uses too.

use super::learn::top_form;
use super::segments::{self, NAME_SLOT, NONE_FORM};
use crate::model::VoiceProfile;
use std::fmt::Write as _;

/// Fewest messages a profile needs before `apply` shortens drafts to its usual length.
pub const MIN_MESSAGES_FOR_LENGTH: u32 = 5;
/// Drafts are never shortened below this many words.
pub const MIN_LENGTH_LIMIT: usize = 40;

fn feature_mean(profile: &VoiceProfile, name: &str) -> f64 {
    profile
        .style
        .features
        .get(&format!("{name}.mean"))
        .copied()
        .unwrap_or(0.0)
}

/// A short description of how the sender writes, to put in an LLM prompt (a dozen lines at
/// most). Profiles without messages give a one-line note.
#[must_use]
pub fn style_guide(profile: &VoiceProfile) -> String {
    if profile.message_count == 0 {
        return "No writing samples yet: write plainly and briefly.".to_owned();
    }
    let style = &profile.style;
    let mut g = String::new();
    let _ = writeln!(
        g,
        "Write in the sender's own voice (learned from {} of their sent emails):",
        profile.message_count
    );
    let _ = writeln!(g, "- Greeting: {}.", top_forms(&style.greetings));
    let _ = writeln!(g, "- Sign-off: {}.", top_forms(&style.sign_offs));
    let _ = writeln!(g, "- Length: {}.", length_habits(profile));
    let _ = writeln!(g, "- Tone: {}.", tone(profile));
    let _ = writeln!(g, "- Punctuation: {}.", punctuation(profile));
    let _ = writeln!(g, "- Voice: {}.", person_and_hedges(profile));
    let _ = writeln!(
        g,
        "- Capitalisation: {}.",
        capitalisation_and_emoji(profile)
    );
    let mut vocab: Vec<(&String, &f64)> = style.vocabulary.iter().collect();
    vocab.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
    if !vocab.is_empty() {
        let words: Vec<&str> = vocab.iter().take(15).map(|(k, _)| k.as_str()).collect();
        let _ = writeln!(g, "- Words they often use: {}.", words.join(", "));
    }
    g.trim_end().to_owned()
}

/// The three most frequent forms of a greeting or sign-off distribution with their shares
/// (`"Hi {name}," 60%, none 30%`).
fn top_forms(dist: &std::collections::BTreeMap<String, f64>) -> String {
    let mut v: Vec<(&String, &f64)> = dist.iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
    v.iter()
        .take(3)
        .map(|(k, p)| {
            let k = if k.as_str() == NONE_FORM {
                "none".to_owned()
            } else {
                format!("\"{}\"", k.replace('\n', " / "))
            };
            format!("{k} {:.0}%", *p * 100.0)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Typical message, sentence and paragraph length.
fn length_habits(profile: &VoiceProfile) -> String {
    let style = &profile.style;
    let len_std = style
        .features
        .get("message_len_std")
        .copied()
        .unwrap_or(0.0);
    format!(
        "about {:.0} words (usually {:.0}-{:.0}); sentences of about {:.0} words; {:.1} sentences per paragraph",
        style.message_len_mean,
        (style.message_len_mean - len_std).max(1.0),
        style.message_len_mean + len_std,
        style.sentence_len_mean,
        style.paragraph_len_mean
    )
}

/// Formality and contractions in words.
fn tone(profile: &VoiceProfile) -> String {
    let style = &profile.style;
    let tone = match style.formality {
        f if f >= 0.7 => "formal",
        f if f >= 0.45 => "neutral, businesslike",
        _ => "casual",
    };
    let contractions = match style.contraction_rate {
        r if r >= 2.0 => "uses contractions freely",
        r if r >= 0.5 => "uses some contractions",
        _ => "rarely uses contractions",
    };
    format!("{tone}; {contractions}")
}

/// Exclamation marks, questions and commas.
fn punctuation(profile: &VoiceProfile) -> String {
    format!(
        "{} exclamation marks, {} questions, {:.1} commas per sentence",
        rate_word(profile.style.exclamation_rate),
        rate_word(feature_mean(profile, "questions_per_sentence")),
        feature_mean(profile, "commas_per_sentence")
    )
}

/// "I" or "we", and how often the sender hedges.
fn person_and_hedges(profile: &VoiceProfile) -> String {
    let i = feature_mean(profile, "first_singular_per_100w");
    let we = feature_mean(profile, "first_plural_per_100w");
    let person = if i > we * 1.5 {
        "speaks as \"I\" more than \"we\""
    } else if we > i * 1.5 {
        "speaks as \"we\" more than \"I\""
    } else {
        "mixes \"I\" and \"we\""
    };
    let hedges = if feature_mean(profile, "hedges_per_100w") >= 1.0 {
        "hedges often (maybe, probably)"
    } else {
        "is direct, few hedges"
    };
    format!("{person}; {hedges}")
}

/// Lower-case sentence starts and emoji.
fn capitalisation_and_emoji(profile: &VoiceProfile) -> String {
    let lower = feature_mean(profile, "lowercase_sentence_starts");
    let emoji = feature_mean(profile, "emoji_per_100w");
    format!(
        "{}; emoji: {}",
        if lower >= 0.3 {
            "often starts sentences in lower case"
        } else {
            "standard"
        },
        if emoji >= 0.5 {
            "uses them"
        } else if emoji > 0.0 {
            "rare"
        } else {
            "never"
        }
    )
}

fn rate_word(per_sentence: f64) -> &'static str {
    match per_sentence {
        r if r >= 0.3 => "frequent",
        r if r >= 0.05 => "occasional",
        _ => "almost no",
    }
}

/// Post-processes a draft into the sender's habits, deterministically: replaces any greeting
/// with the sender's most frequent one (addressed to `recipient_first_name`), replaces any
/// sign-off with theirs, and drops middle sentences of drafts far longer than the sender
/// writes (beyond mean + 2 standard deviations, never below [`MIN_LENGTH_LIMIT`] words; the
/// first and last sentences are always kept). A profile without messages only trims.
#[must_use]
pub fn apply(profile: &VoiceProfile, draft: &str, recipient_first_name: Option<&str>) -> String {
    let normalized = draft.replace("\r\n", "\n");
    let mut body = normalized.trim();
    if profile.message_count == 0 {
        return body.to_owned();
    }
    if let Some(g) = segments::detect_greeting(body) {
        let rest = body[g.len..].trim_start();
        if !rest.is_empty() {
            body = rest;
        }
    }
    if let Some(s) = segments::detect_sign_off(body) {
        let rest = body[..s.start].trim_end();
        if !rest.is_empty() {
            body = rest;
        }
    }
    let mut body = body.to_owned();
    if profile.message_count >= MIN_MESSAGES_FOR_LENGTH {
        let std = profile
            .style
            .features
            .get("message_len_std")
            .copied()
            .unwrap_or(0.0);
        let limit = (profile.style.message_len_mean + 2.0 * std).ceil();
        let limit = if limit.is_finite() && limit > 0.0 {
            (limit as usize).max(MIN_LENGTH_LIMIT)
        } else {
            MIN_LENGTH_LIMIT
        };
        body = shorten(&body, limit);
    }

    let name = recipient_first_name
        .and_then(|n| n.split_whitespace().next())
        .filter(|n| !n.chars().any(char::is_control));
    let greeting = choose_greeting(profile, name);
    let sign_off = top_form(&profile.style.sign_offs, true)
        .map(|(f, _)| f)
        .filter(|f| *f != NONE_FORM);

    let mut out = String::new();
    if let Some(g) = greeting {
        out.push_str(&g);
        out.push_str("\n\n");
    }
    out.push_str(&body);
    if let Some(s) = sign_off {
        out.push_str("\n\n");
        out.push_str(s);
    }
    out
}

fn choose_greeting(profile: &VoiceProfile, name: Option<&str>) -> Option<String> {
    let dist = &profile.style.greetings;
    let (top, _) = top_form(dist, true)?;
    if top == NONE_FORM {
        return None;
    }
    if !top.contains(NAME_SLOT) {
        return Some(top.to_owned());
    }
    if let Some(n) = name {
        return Some(top.replace(NAME_SLOT, n));
    }
    // No name to address: the sender's most frequent greeting that needs none.
    dist.iter()
        .filter(|(k, _)| k.as_str() != NONE_FORM && !k.contains(NAME_SLOT))
        .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(k, _)| k.clone())
}

/// Drops sentences before the last one, from the end backwards, until the text has at most
/// `limit` words; paragraphs left empty disappear.
fn shorten(body: &str, limit: usize) -> String {
    let count = |s: &str| segments::tokens(s).iter().filter(|t| t.is_word).count();
    let mut paras: Vec<Vec<String>> = segments::paragraphs(body);
    let mut total: usize = paras.iter().flatten().map(|s| count(s)).sum();
    if total <= limit {
        return body.to_owned();
    }
    // Positions of every sentence except the first and the last, latest first.
    let mut positions: Vec<(usize, usize)> = paras
        .iter()
        .enumerate()
        .flat_map(|(p, ss)| (0..ss.len()).map(move |s| (p, s)))
        .collect();
    if positions.len() <= 2 {
        return body.to_owned();
    }
    positions.remove(0);
    positions.pop();
    let mut removed = std::collections::BTreeSet::new();
    for &(p, s) in positions.iter().rev() {
        if total <= limit {
            break;
        }
        total -= count(&paras[p][s]);
        removed.insert((p, s));
    }
    for (p, ss) in paras.iter_mut().enumerate() {
        let mut i = 0;
        ss.retain(|_| {
            let keep = !removed.contains(&(p, i));
            i += 1;
            keep
        });
    }
    paras.retain(|p| !p.is_empty());
    paras
        .iter()
        .map(|p| p.join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `s` without bidirectional controls (no override may reach a draft).
fn without_bidi(s: &str) -> String {
    s.chars()
        .filter(|c| !crate::writer::is_bidi_control(*c))
        .collect()
}

/// The greeting line for a greeting `form` (`"Hi {name},"`) and the recipient's first name.
/// Without a name, `Hi {name},` becomes `Hi there,`, `Good morning {name},` becomes
/// `Good morning,` and any other form `Hello,`. `None` for "no greeting" or an empty form.
#[must_use]
pub fn greeting_line(form: &str, first_name: Option<&str>) -> Option<String> {
    let form = crate::model::clean_line(&without_bidi(form));
    if form.is_empty() || form == NONE_FORM {
        return None;
    }
    // Only the name slot may hold braces; other brackets would read as placeholders.
    let form = form
        .replace(NAME_SLOT, "\u{1}")
        .replace(['{', '}', '[', ']'], " ");
    let form = form.replace('\u{1}', NAME_SLOT);
    if form.trim().is_empty() {
        return None;
    }
    if !form.contains(NAME_SLOT) {
        return Some(form);
    }
    if let Some(n) = first_name.map(str::trim).filter(|n| !n.is_empty()) {
        return Some(form.replace(NAME_SLOT, n));
    }
    let lower = form.to_lowercase();
    if ["hi ", "hey ", "hello "]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        Some(form.replace(NAME_SLOT, "there"))
    } else if lower.starts_with("good ") {
        Some(
            form.replace(&format!(" {NAME_SLOT}"), "")
                .replace(NAME_SLOT, ""),
        )
    } else {
        Some("Hello,".to_owned())
    }
}

/// True when a sign-off form already carries a name (`Thanks,\nVince`, `Best, Ann`, `Kay`), so
/// the sender's name is not added below it.
#[must_use]
pub fn sign_off_has_name(form: &str) -> bool {
    let form = form.trim();
    if form.is_empty() || form == NONE_FORM {
        return false;
    }
    if form.lines().filter(|l| !l.trim().is_empty()).count() > 1 {
        return true;
    }
    let bare = form
        .trim_end_matches([',', '!', '.', '-', ':'])
        .trim()
        .to_lowercase();
    if segments::CLOSINGS.contains(&bare.as_str()) {
        return false;
    }
    // "Best, Ann" / "Thanks - Kay": a closing then more words; a lone word that is no closing is
    // a name.
    true
}

/// The sign-off block: the sender's `form`, with their name (and company, when given) on the
/// lines below unless the form carries a name already. Without a form: `Best,` (or
/// `Kind regards,` when `formal`).
#[must_use]
pub fn sign_off_lines(
    form: Option<&str>,
    sender_name: &str,
    company: &str,
    formal: bool,
) -> String {
    let form = form
        .map(str::trim)
        .filter(|f| !f.is_empty() && *f != NONE_FORM)
        .map(|f| {
            f.lines()
                .map(|l| {
                    crate::model::clean_line(&without_bidi(&l.replace(['{', '}', '[', ']'], " ")))
                })
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|f| !f.is_empty());
    if let Some(f) = form.as_deref().filter(|f| sign_off_has_name(f)) {
        return f.to_owned();
    }
    let closing = form.unwrap_or_else(|| if formal { "Kind regards," } else { "Best," }.to_owned());
    let name = crate::model::clean_line(&without_bidi(
        &sender_name.replace(['{', '}', '[', ']'], " "),
    ));
    let company =
        crate::model::clean_line(&without_bidi(&company.replace(['{', '}', '[', ']'], " ")));
    let mut out = closing;
    if !name.is_empty() {
        out.push('\n');
        out.push_str(&name);
    }
    if !company.is_empty() && company != name {
        out.push('\n');
        out.push_str(&company);
    }
    out
}

/// A draft body without its greeting line and its closing lines (closing phrases, the sender's
/// name, company or address, and short name lines at the very end).
#[must_use]
pub fn strip_frame(body: &str, sender_name: &str, company: &str, sender_email: &str) -> String {
    let normalized = body.replace("\r\n", "\n");
    let mut text = normalized.trim();
    if let Some(g) = segments::detect_greeting(text) {
        let rest = text.get(g.len..).unwrap_or("").trim_start();
        if !rest.is_empty() {
            text = rest;
        }
    }
    let own: Vec<String> = format!("{sender_name} {company}")
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let mut lines: Vec<&str> = text.lines().collect();
    let mut dropped = 0;
    while lines.len() > 1 && dropped < 6 {
        let Some(last) = lines.last() else { break };
        let l = last.trim();
        let bare = l
            .trim_end_matches([',', '!', '.', '-', ':'])
            .trim()
            .to_lowercase();
        let words: Vec<&str> = l.split_whitespace().collect();
        let closing = segments::CLOSINGS.contains(&bare.as_str())
            || (words.len() <= 6
                && segments::CLOSINGS.iter().any(|c| {
                    bare.strip_prefix(c)
                        .is_some_and(|rest| rest.starts_with([',', ' ', '!', '-']))
                }));
        let own_line = !words.is_empty()
            && words.iter().all(|w| {
                let w = w
                    .trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase();
                w.is_empty() || own.contains(&w)
            });
        let address = !sender_email.is_empty() && l.eq_ignore_ascii_case(sender_email.trim());
        if l.is_empty() || closing || own_line || address || l == "--" || l == "-- " {
            lines.pop();
            dropped += 1;
        } else {
            break;
        }
    }
    let core = lines.join("\n");
    let core = core.trim();
    if core.is_empty() {
        text.to_owned()
    } else {
        core.to_owned()
    }
}

/// Puts a draft between the sender's greeting (addressed to `first_name`) and sign-off: any
/// greeting and closing lines the text has are replaced ([`strip_frame`], [`greeting_line`],
/// [`sign_off_lines`]); a hint of `(none)` leaves the greeting (or the whole sign-off) out, as
/// for a sender who almost never writes one. The template writer and the pipeline (for model-written drafts) both
/// frame drafts this way, so every draft opens and closes as the sender does.
#[must_use]
pub fn frame(
    body: &str,
    hints: &crate::prompt::VoiceHints,
    first_name: Option<&str>,
    sender: &crate::prompt::SenderData,
) -> String {
    let core = strip_frame(body, &sender.name, &sender.company, &sender.email);
    let formal = hints.formality >= 0.6;
    let none = |f: &Option<String>| f.as_deref().map(str::trim) == Some(NONE_FORM);
    let greeting = hints
        .greeting
        .as_deref()
        .and_then(|g| greeting_line(g, first_name))
        .or_else(|| {
            greeting_line(
                if formal { "Dear {name}," } else { "Hi {name}," },
                first_name,
            )
        });
    let greeting = greeting.filter(|_| !none(&hints.greeting));
    let mut out = String::new();
    if let Some(g) = greeting {
        out.push_str(&g);
        out.push_str("\n\n");
    }
    out.push_str(&core);
    if none(&hints.sign_off) {
        return out;
    }
    let sign_off = sign_off_lines(
        hints.sign_off.as_deref(),
        &sender.name,
        &sender.company,
        formal,
    );
    out.push_str("\n\n");
    out.push_str(&sign_off);
    out
}
