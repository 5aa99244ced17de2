//! Drafts composed around the model's prose ([`DraftFormat::Prose`](crate::prompt::DraftFormat)).
//!
//! The model writes only a few sentences ([`crate::prompt::prose_request`]); the code writes
//! everything a small model gets wrong: the subject (the template writer's, from the facts),
//! the sender's greeting and sign-off from their voice profile (as the template writer frames
//! its drafts), the most relevant Drive document with its link, and the proposed meeting slots
//! as a list, each in the wording most like the sender. The composed draft then passes the same
//! validation as a JSON answer ([`crate::prompt::check_draft`]), which records the facts it uses.

use super::{
    ASK_NO_SLOTS, ASK_SLOTS, Basics, NONE_FITS, asset_paragraphs, closing, frame_in_voice,
    slot_line, template_subject,
};
use crate::Result;
use crate::model::VoiceProfile;
use crate::prompt::{CheckedDraft, DraftInput, DraftOutput, FactSource, clean_prose};
use std::fmt::Write as _;

/// Words that show the prose already asks for a meeting.
const ASKS_FOR_TIME: &[&str] = &[
    "time",
    "call",
    "meet",
    "chat",
    "talk",
    "slot",
    "available",
    "free",
];

/// The sentences of `prose` with their byte ranges (split after `.`, `!` or `?`, and at line
/// breaks), blank ones left out.
fn sentences(prose: &str) -> Vec<(&str, usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in prose.char_indices() {
        if matches!(c, '.' | '!' | '?' | '\n') {
            let end = i + c.len_utf8();
            out.push((&prose[start..end], start, end));
            start = end;
        }
    }
    if start < prose.len() {
        out.push((&prose[start..], start, prose.len()));
    }
    out.retain(|(s, _, _)| !s.trim().trim_matches(['.', '!', '?']).is_empty());
    out
}

/// Where the slot list can follow `prose` directly, without a question of the code's own: the
/// byte offset just after the sentence that asks about a meeting (the last sentence, a
/// question) or points at the times "below" (`The times are listed below.`, any sentence);
/// `None` when the prose does neither.
fn asks_for_time(prose: &str) -> Option<usize> {
    let about_time = |s: &str| {
        let s = s.to_lowercase();
        ASKS_FOR_TIME.iter().any(|w| s.contains(w))
    };
    let all = sentences(prose);
    if let Some((last, _, end)) = all.last()
        && last.contains('?')
        && about_time(last)
    {
        return Some(*end);
    }
    all.iter()
        .find(|(s, _, _)| s.to_lowercase().contains("below") && about_time(s))
        .map(|(_, _, end)| *end)
}

/// `prose` without the lead's first name as a vocative before a sentence's end
/// (`Thank you for your message, Ann.` → `Thank you for your message.`): the greeting already
/// names them.
fn without_trailing_name(prose: &str, first: &str) -> String {
    let mut out = prose.to_owned();
    for stop in ['.', '!', '?'] {
        out = out.replace(&format!(", {first}{stop}"), &stop.to_string());
    }
    out
}

/// Where the last sentence of `prose` starts when it reads as a closing line (an invitation to
/// ask or call, not a question: the code adds no closing of its own then, and the sentence
/// goes to the end of the draft).
fn closing_start(prose: &str) -> Option<usize> {
    let (last, start, _) = sentences(prose).pop()?;
    let l = last.trim().to_lowercase();
    (!l.contains('?') && super::OWN_CLOSING_STARTS.iter().any(|s| l.starts_with(s)))
        .then_some(start)
}

/// Composes a draft around `prose` (already cleaned and grounded): the template writer's
/// subject, the sender's greeting, the prose (without the lead's name repeated at a
/// sentence's end when the greeting names them), the best Drive document with its link (two
/// for senders who write long mails), the meeting slots as a list (introduced by a question
/// unless the prose ends with one about a meeting or points at the times below), the closing
/// line most like the sender (as the template writer's closing: their own habitual closing
/// sentence when their profile has one) unless the prose ends with one (then that one goes
/// last), and the sender's sign-off; `fact_ids` lists the documents and slots rendered.
#[must_use]
pub fn compose_prose_draft(
    input: &DraftInput,
    profile: Option<&VoiceProfile>,
    prose: &str,
) -> DraftOutput {
    let hints = input.voice.clone().unwrap_or_default();
    let Basics {
        style,
        first,
        company,
        asked,
    } = Basics::of(input, profile);
    let mut used = Vec::new();
    let greets = super::greets(&hints, profile);
    let prose = match first.as_deref() {
        Some(f) if greets => without_trailing_name(prose.trim(), f),
        _ => prose.trim().to_owned(),
    };
    let prose = prose.as_str();
    let asked_at = asks_for_time(prose);
    let closing_at = closing_start(prose).filter(|c| asked_at.is_none_or(|a| *c >= a));
    // The slot list goes right after the sentence that asks for (or points at) the times; the
    // prose after it (a closing line), or else the prose's own closing line, comes last.
    let (head, tail) = prose.split_at(asked_at.or(closing_at).unwrap_or(prose.len()));
    let mut paragraphs = vec![head.trim().to_owned()];
    let tail = tail.trim();
    paragraphs.extend(asset_paragraphs(input, &asked, &style, &mut used));
    let demo = if asked.demo { " with a short demo" } else { "" };
    let slots: Vec<_> = input
        .facts
        .iter()
        .filter(|f| f.source == FactSource::Calendar)
        .take(if style.short { 2 } else { 3 })
        .collect();
    let asked_in_prose = asked_at.is_some();
    if slots.is_empty() {
        if !asked_in_prose {
            paragraphs.push(style.pick(ASK_NO_SLOTS, &|o| o.replace("{demo}", demo)));
        }
    } else {
        let mut block = if asked_in_prose {
            String::new()
        } else {
            style.pick(ASK_SLOTS, &|o| o.replace("{demo}", demo))
        };
        let mut zone_shown: Option<String> = None;
        for f in slots {
            if !block.is_empty() {
                block.push('\n');
            }
            let _ = write!(block, "- {}", slot_line(&f.text, &mut zone_shown));
            used.push(f.id.clone());
        }
        if !style.short {
            block.push('\n');
            block.push_str(&style.pick(NONE_FITS, &|o| (*o).to_owned()));
        }
        if asked_in_prose {
            // The list follows the prose's own question.
            if let Some(p) = paragraphs.first_mut() {
                p.push('\n');
                p.push_str(&block);
            }
        } else {
            paragraphs.push(block);
        }
    }
    if !tail.is_empty() {
        paragraphs.push(tail.to_owned());
    }
    if closing_at.is_none() {
        paragraphs.push(closing(&style));
    }
    let body = frame_in_voice(&paragraphs, hints, profile, first.as_deref(), &input.sender);
    DraftOutput {
        subject: template_subject(input, company.as_deref(), &asked),
        body,
        fact_ids: used,
    }
}

/// Checks a prose answer of the model and composes the draft: the prose cleaned and grounded
/// ([`clean_prose`]), composed around ([`compose_prose_draft`]), and the whole draft checked
/// like a JSON answer ([`crate::prompt::check_draft`]: limits, grounding, facts used). The
/// repairs of both steps are returned.
///
/// # Errors
/// As [`clean_prose`] and [`crate::prompt::check_draft`].
pub fn check_prose_answer(
    content: &str,
    input: &DraftInput,
    profile: Option<&VoiceProfile>,
) -> Result<CheckedDraft> {
    let clean = clean_prose(content, input)?;
    let draft = compose_prose_draft(input, profile, &clean.text);
    let json = serde_json::to_string(&draft).map_err(|e| crate::Error::backend(e.to_string()))?;
    let mut checked = crate::prompt::check_draft(&json, input)?;
    let mut repairs = clean.repairs;
    repairs.append(&mut checked.repairs);
    checked.repairs = repairs;
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{Fact, LeadData, SenderData, VoiceHints, ground, ground_subject};
    use crate::voice;

    fn input() -> DraftInput {
        DraftInput {
            sender: SenderData {
                name: "Sam Seller".into(),
                email: "sam@salesagent.dev".into(),
                company: "Salesagent".into(),
            },
            lead: LeadData {
                email: "maria@northwind.example".into(),
                first_name: Some("Maria".into()),
                company: Some("Northwind Logistics".into()),
                message: Some("Could you send a quote for order confirmation emails?".into()),
                ..LeadData::default()
            },
            facts: vec![
                Fact {
                    id: "crm:company:1".into(),
                    source: FactSource::Crm,
                    text: "Northwind Logistics: logistics, about 180 employees".into(),
                    link: None,
                },
                Fact {
                    id: "drive:case".into(),
                    source: FactSource::Drive,
                    text: "Case study - Weber Logistics.pdf".into(),
                    link: Some("https://drive.example/case".into()),
                },
                Fact {
                    id: "slot:1".into(),
                    source: FactSource::Calendar,
                    text: "Fri 27 Nov, 11:00–11:30 CET (Europe/Berlin)".into(),
                    link: None,
                },
                Fact {
                    id: "slot:2".into(),
                    source: FactSource::Calendar,
                    text: "Mon 30 Nov, 14:00–14:30 CET (Europe/Berlin)".into(),
                    link: None,
                },
            ],
            voice: Some(VoiceHints {
                greeting: Some("Hi {name},".into()),
                sign_off: Some("Best,".into()),
                formality: 0.3,
                contraction_rate: 2.0,
                target_words: 120,
                ..VoiceHints::default()
            }),
        }
    }

    const GOOD: &str = "Maria, thank you for your message about order confirmation emails. \
        We have a case study on how we can automate this process for Northwind Logistics. \
        Would one of the free times work for a short call?";

    #[test]
    fn a_prose_answer_becomes_a_framed_grounded_draft() {
        let c = check_prose_answer(GOOD, &input(), None).unwrap();
        insta::assert_snapshot!(c.output.body, @r"
        Hi Maria,

        Thank you for your message about order confirmation emails. We have a case study on how we can automate this process for Northwind Logistics. Would one of the free times work for a short call?
        - Fri 27 Nov, 11:00–11:30 CET (Europe/Berlin)
        - Mon 30 Nov, 14:00–14:30 CET
        If none of them works, just reply with a time that suits you.

        This might help in the meantime: Case study - Weber Logistics (https://drive.example/case).

        Let me know if you have any questions.

        Best,
        Sam Seller
        Salesagent
        ");
        assert_eq!(
            c.output.subject,
            "Salesagent and Northwind Logistics: next steps"
        );
        assert_eq!(c.output.fact_ids, ["drive:case", "slot:1", "slot:2"]);
        // Stored as it stands, it passes grounding unchanged.
        let g = ground(&c.output.body, &input()).unwrap();
        assert!(g.repairs.is_empty());
        ground_subject(&c.output.subject, &input()).unwrap();
    }

    #[test]
    fn hostile_answers_are_repaired_or_refused_never_stored_with_an_invented_claim() {
        let hostile = [
            // Invented link, price and name, a greeting and a sign-off inside.
            "Dear Maria,\nThanks for writing. Our price is $99 per month, see https://cheap.example/deal now. \
             We have a case study from Northwind Logistics that shows how teams save time. \
             Peter Parker from Globex uses it every day.\n\nKind regards,\nPeter Parker\nSales Manager",
            // A date and a percentage nobody gave.
            "Thank you for your interest in order confirmation emails at Northwind Logistics. \
             We could meet on Tuesday 3 December. It saves 45% of the work.",
        ];
        for answer in hostile {
            let c = check_prose_answer(answer, &input(), None).unwrap();
            for gone in [
                "$99",
                "cheap.example",
                "Peter",
                "Parker",
                "Globex",
                "Tuesday",
                "45%",
                "Kind regards",
                "Dear",
            ] {
                assert!(!c.output.body.contains(gone), "{gone} in {}", c.output.body);
            }
            assert!(!c.repairs.is_empty());
            let g = ground(&c.output.body, &input()).unwrap();
            assert!(g.repairs.is_empty(), "{:?}", g.repairs);
        }
        let long = "We help Northwind Logistics answer every customer message quickly. ".repeat(60);
        for refused in [
            "",
            "Hi Maria,\n\nBest regards,\nSam",
            "It costs $1. It costs $2. It costs $3. It costs $4. It costs $5. It costs $6.",
            "{\"subject\": \"Hi\", \"body\": \"Hello there\"}",
            "[Your Name] will call [Customer] at [Time].",
        ] {
            let e = check_prose_answer(refused, &input(), None).unwrap_err();
            assert_eq!(e.kind(), "invalid_input", "{refused:?}: {e}");
        }
        // Very long: repeated sentences go, whatever is left is within the limits.
        let c = check_prose_answer(&long, &input(), None).unwrap();
        assert!(c.output.body.split_whitespace().count() <= crate::prompt::MAX_DRAFT_WORDS);
        assert!(
            c.repairs.iter().any(|r| r.contains("repeated")),
            "{:?}",
            c.repairs
        );
    }

    #[test]
    fn the_prose_is_framed_in_a_learned_voice() {
        let mails: Vec<String> = (0..20)
            .map(|i| format!("Bob,\n\nThe numbers for desk {i} are in the file.\n\nRegards"))
            .collect();
        let email = crate::model::EmailAddress::parse("dave@example.com").unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let p = voice::learn(email, "default", mails, now).unwrap();
        let c = check_prose_answer(GOOD, &input(), Some(&p)).unwrap();
        assert!(c.output.body.ends_with("\n\nRegards"), "{}", c.output.body);
        assert!(!c.output.body.contains("Best,"), "{}", c.output.body);
    }

    #[test]
    fn the_name_is_not_repeated_times_below_get_no_second_question_and_one_closing() {
        let c = check_prose_answer(
            "Thank you for your message about a quote, Maria. The case study shows how this works \
             for Northwind Logistics. The times for a call are listed below. Let me know if you \
             have any questions.",
            &input(),
            None,
        )
        .unwrap();
        let body = &c.output.body;
        assert!(body.starts_with("Hi Maria,\n\n"), "{body}");
        assert_eq!(body.matches("Maria").count(), 1, "{body}");
        assert!(body.contains("about a quote. The case study"), "{body}");
        // The prose points at the list: no question of the code's own before it.
        assert!(body.contains("listed below.\n- Fri 27 Nov"), "{body}");
        // The prose's closing follows the list, and the code adds none of its own.
        assert!(
            body.contains("\n\nLet me know if you have any questions.\n\n"),
            "{body}"
        );
        assert!(!body.contains("these times"), "{body}");
        assert_eq!(body.matches("questions").count(), 1, "{body}");
    }

    #[test]
    fn a_closing_line_of_the_prose_goes_last() {
        let c = check_prose_answer(
            "Thank you for your message about a quote. The case study shows how this works for \
             Northwind Logistics. Let me know what you think.",
            &input(),
            None,
        )
        .unwrap();
        let body = &c.output.body;
        assert!(
            body.contains("Northwind Logistics.\n\nThis might help"),
            "{body}"
        );
        assert!(
            body.ends_with(
                "suits you.\n\nLet me know what you think.\n\nBest,\nSam Seller\nSalesagent"
            ),
            "{body}"
        );
        assert!(!body.contains("any questions"), "{body}");
    }

    #[test]
    fn the_closing_line_is_the_senders_own_habit() {
        let mails: Vec<String> = (0..20)
            .map(|i| {
                format!(
                    "Bob,\n\nThe numbers for desk {i} are in the file. Shout if anything looks off to you.\n\nRegards"
                )
            })
            .collect();
        let email = crate::model::EmailAddress::parse("dave@example.com").unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut p = voice::learn(email, "default", mails, now).unwrap();
        // A closing sentence of the sender's own (as learning keeps it from their mail).
        p.style
            .exemplars
            .push("Let me know if anything looks off to you.".into());
        let c = check_prose_answer(GOOD, &input(), Some(&p)).unwrap();
        assert!(
            c.output
                .body
                .contains("Let me know if anything looks off to you.\n\nRegards"),
            "{}",
            c.output.body
        );
    }

    #[test]
    fn without_a_question_the_slots_get_one() {
        let c = check_prose_answer(
            "Thank you for your message about a quote for Northwind Logistics. The case study shows how this works.",
            &input(),
            None,
        )
        .unwrap();
        assert!(
            c.output.body.contains("?\n- Fri 27 Nov"),
            "{}",
            c.output.body
        );
    }
}
