//! Turning what the ports return into prompt facts, ICP input and voice hints.

use crate::model::{Company, FormSubmission, MailMessage, VoiceProfile, clean_line};
use crate::prompt::{CompanyAnalysis, Fact, FactSource, VoiceHints};
use crate::slots::MeetingSlot;

/// Longest mail snippet in a fact, in characters.
const SNIPPET_CHARS: usize = 200;

fn cap(s: &str, max: usize) -> String {
    let s = clean_line_long(s);
    if s.chars().count() <= max {
        s
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Like [`clean_line`] without its 256-byte cap (callers cap by characters).
fn clean_line_long(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A fact for an earlier message with the contact.
pub(crate) fn mail_fact(m: &MailMessage, lead: &crate::model::EmailAddress) -> Fact {
    let date = m
        .date
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "an earlier date".to_owned());
    let from_lead = m.from.as_ref().is_some_and(|f| f.same_mailbox(lead));
    let direction = if from_lead {
        "from the lead"
    } else {
        "to the lead"
    };
    Fact {
        id: format!("mail:{}", m.provider_id),
        source: FactSource::Mail,
        text: format!(
            "e-mail of {date} {direction}, subject \"{}\": {}",
            cap(&m.subject, 120),
            cap(&m.body_text, SNIPPET_CHARS)
        ),
        link: None,
    }
}

/// A fact for a Drive asset.
pub(crate) fn drive_fact(f: &crate::model::DriveFile) -> Fact {
    let text = match f.description.as_deref().filter(|d| !d.trim().is_empty()) {
        Some(d) => format!("{} — {}", cap(&f.name, 120), cap(d, 200)),
        None => cap(&f.name, 120),
    };
    Fact {
        id: format!("drive:{}", f.id),
        source: FactSource::Drive,
        text,
        link: f.web_link.as_deref().map(clean_line),
    }
}

/// A fact for the CRM company record.
pub(crate) fn company_fact(c: &Company) -> Fact {
    let mut parts = Vec::new();
    if let Some(i) = &c.industry {
        parts.push(cap(i, 60));
    }
    if let Some(n) = c.employee_count {
        parts.push(format!("{n} employees"));
    }
    if let Some(country) = &c.country {
        parts.push(cap(country, 40));
    }
    let mut text = cap(&c.name, 80);
    if !parts.is_empty() {
        text = format!("{text}: {}", parts.join(", "));
    }
    if let Some(d) = c.description.as_deref().filter(|d| !d.trim().is_empty()) {
        text = format!("{text}. {}", cap(d, 240));
    }
    Fact {
        id: format!("crm:company:{}", c.crm_id),
        source: FactSource::Crm,
        text,
        link: None,
    }
}

/// A fact for the company/competitor analysis.
pub(crate) fn analysis_fact(a: &CompanyAnalysis) -> Fact {
    let mut text = cap(&a.summary, 300);
    if !a.talking_points.is_empty() {
        let points: Vec<&str> = a
            .talking_points
            .iter()
            .map(|p| p.trim().trim_end_matches('.'))
            .filter(|p| !p.is_empty())
            .collect();
        if !points.is_empty() {
            text.push_str(" Talking points: ");
            text.push_str(&points.join("; "));
            text.push('.');
        }
    }
    if !a.competitors.is_empty() {
        text.push_str(" May be comparing: ");
        text.push_str(&a.competitors.join(", "));
        text.push('.');
    }
    Fact {
        id: "analysis:company".to_owned(),
        source: FactSource::Analysis,
        text,
        link: None,
    }
}

/// How the draft page shows a fact the text uses.
pub(crate) fn used_fact(f: &Fact) -> crate::model::UsedFact {
    crate::model::UsedFact {
        id: f.id.clone(),
        source: serde_json::to_value(f.source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        text: f.text.clone(),
        link: f.link.clone(),
    }
}

/// Facts for proposed slots (`slot:1`, `slot:2`, …).
pub(crate) fn slot_facts(slots: &[MeetingSlot]) -> Vec<Fact> {
    slots
        .iter()
        .enumerate()
        .map(|(i, s)| Fact {
            id: format!("slot:{}", i + 1),
            source: FactSource::Calendar,
            text: s.display.clone(),
            link: None,
        })
        .collect()
}

/// The most frequent form that is not "none" (a first e-mail to a lead always greets and signs).
fn most_frequent(map: &std::collections::BTreeMap<String, f64>) -> Option<String> {
    map.iter()
        .filter(|(k, v)| {
            !k.trim().is_empty() && k.as_str() != crate::voice::segments::NONE_FORM && v.is_finite()
        })
        .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(k, _)| {
            k.lines()
                .map(clean_line)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|k| !k.is_empty())
}

/// What the prompt and the template need from a voice profile: the sender's exact greeting and
/// sign-off, formality, contractions, typical length, and, for a profile learned from mail,
/// the style guide and a few exemplar sentences of their own.
pub(crate) fn voice_hints(p: &VoiceProfile) -> VoiceHints {
    let s = &p.style;
    let sign_off = most_frequent(&s.sign_offs);
    let learned = p.message_count > 0;
    VoiceHints {
        greeting: most_frequent(&s.greetings),
        sign_off_has_name: sign_off
            .as_deref()
            .is_some_and(crate::voice::sign_off_has_name),
        sign_off,
        formality: if s.formality.is_finite() {
            s.formality.clamp(0.0, 1.0)
        } else {
            0.5
        },
        contraction_rate: if s.contraction_rate.is_finite() {
            s.contraction_rate.max(0.0)
        } else {
            0.0
        },
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        target_words: if s.message_len_mean.is_finite() && s.message_len_mean > 0.0 {
            s.message_len_mean.clamp(40.0, 200.0) as u32
        } else {
            120
        },
        style_guide: learned.then(|| crate::voice::style_guide(p)),
        // The sender's stock phrases first: a prompt shows the first few.
        exemplars: crate::voice::exemplars::habitual(p)
            .into_iter()
            .take(crate::prompt::MAX_EXEMPLARS)
            .collect(),
    }
}

const STOPWORDS: &[&str] = &[
    "about",
    "after",
    "again",
    "would",
    "could",
    "should",
    "there",
    "their",
    "these",
    "those",
    "which",
    "while",
    "where",
    "other",
    "thanks",
    "hello",
    "please",
    "regards",
    "really",
    "looking",
    "interested",
    "wanted",
    "being",
    "because",
    "every",
    "today",
    "tomorrow",
    "ignore",
    "previous",
    "instructions",
];

/// Drive search terms: the company name and a few distinctive words of the message.
pub(crate) fn drive_terms(submission: &FormSubmission, company: Option<&str>) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    if let Some(c) = company.map(clean_line).filter(|c| !c.is_empty()) {
        terms.push(cap(&c, 60));
    }
    if let Some(m) = &submission.lead.message {
        for w in m
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 5)
            .map(str::to_lowercase)
            .filter(|w| !STOPWORDS.contains(&w.as_str()))
            .take(64)
        {
            if terms.len() >= 7 {
                break;
            }
            if !terms.contains(&w) {
                terms.push(w);
            }
        }
    }
    (!terms.is_empty()).then(|| terms.join(" "))
}
