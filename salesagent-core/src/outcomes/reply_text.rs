//! Text heuristics: quoted-text removal and the phrase lists used to recognise out-of-office
//! subjects, requests to stop and the tone of a reply, in English, German, French, Spanish and a
//! few more languages. All matching is on lower-cased decoded text, never on raw headers.

/// Subject prefixes mail clients put on automatic replies (Outlook/Exchange, Gmail, Apple Mail and
/// common auto-responders), lower-case.
const AUTO_REPLY_SUBJECT_PREFIXES: &[&str] = &[
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "automatische antwort",
    "automatische rückantwort",
    "réponse automatique",
    "reponse automatique",
    "respuesta automática",
    "respuesta automatica",
    "risposta automatica",
    "resposta automática",
    "resposta automatica",
    "automatisch antwoord",
    "autosvar",
    "automaattinen vastaus",
    "odpowiedź automatyczna",
    "automatická odpověď",
];

/// Phrases that mark an out-of-office subject anywhere in it, lower-case.
const OUT_OF_OFFICE_SUBJECT_PHRASES: &[&str] = &[
    "out of office",
    "out of the office",
    "out-of-office",
    "ooo:",
    "[ooo]",
    "away from the office",
    "on vacation",
    "on holiday",
    "on annual leave",
    "abwesenheitsnotiz",
    "abwesenheit",
    "nicht im büro",
    "außer haus",
    "ausser haus",
    "urlaubsbenachrichtigung",
    "absence du bureau",
    "absent du bureau",
    "en congés",
    "en vacances",
    "message d'absence",
    "fuera de la oficina",
    "fuera de oficina",
    "ausente",
    "de vacaciones",
    "fuori ufficio",
    "fuori sede",
    "afwezig",
    "niet op kantoor",
    "fora do escritório",
    "frånvaro",
    "poza biurem",
];

/// Body phrases of auto-responders, used only together with a weak header signal.
const OUT_OF_OFFICE_BODY_PHRASES: &[&str] = &[
    "i am out of the office",
    "i'm out of the office",
    "i am currently out of the office",
    "i will be out of the office",
    "i am away from",
    "limited access to email",
    "limited access to e-mail",
    "ich bin bis",
    "ich bin derzeit nicht im büro",
    "bin ich nicht erreichbar",
    "je suis absent",
    "je serai absent",
    "estoy fuera de la oficina",
    "estaré fuera",
    "out of the office until",
    "out of office until",
    "i'm currently out of the office",
    "i am on vacation",
    "i'm on vacation",
    "i am on holiday",
    "i'm on holiday",
    "i am on leave",
    "i'm on leave",
    "i am away until",
    "i'm away until",
    "back in the office on",
    "ich bin im urlaub",
    "ich bin nicht im büro",
    "je suis en congé",
    "je suis en vacances",
    "je serai de retour",
    "estoy de vacaciones",
    "estaré de vuelta",
    "me encuentro fuera de la oficina",
];

/// Phrases asking us to stop writing, lower-case. Checked on the new text of a reply only
/// (quoted text and our own footer are removed first).
const STOP_PHRASES: &[&str] = &[
    "unsubscribe",
    "remove me",
    "please remove",
    "remove my address",
    "remove my email",
    "remove my e-mail",
    "take me off",
    "take me out of",
    "stop emailing",
    "stop e-mailing",
    "stop sending",
    "stop contacting",
    "stop writing",
    "do not contact me",
    "don't contact me",
    "do not email me",
    "don't email me",
    "do not e-mail me",
    "opt out",
    "opt-out",
    "no more emails",
    "no more e-mails",
    "abmelden",
    "austragen",
    "bitte entfernen sie",
    "entfernen sie mich",
    "keine weiteren e-mails",
    "keine weiteren mails",
    "keine e-mails mehr",
    "nicht mehr kontaktieren",
    "désabonner",
    "desabonner",
    "désinscrire",
    "desinscrire",
    "ne plus recevoir",
    "retirez-moi",
    "retirez moi",
    "supprimez-moi",
    "ne me contactez plus",
    "darme de baja",
    "dar de baja",
    "dadme de baja",
    "bórrenme",
    "borrenme",
    "elimínenme",
    "eliminenme",
    "no me contacten",
    "no me escriban",
    "dejen de enviar",
    "cancelar suscripción",
    "cancelar la suscripción",
];

/// Phrases of a negative reply, lower-case; checked before the positive ones.
const NEGATIVE_PHRASES: &[&str] = &[
    "not interested",
    "no interest",
    "no thanks",
    "no thank you",
    "not a fit",
    "not a good fit",
    "not the right fit",
    "not relevant",
    "not looking",
    "we are all set",
    "we're all set",
    "we already have",
    "we already use",
    "no need",
    "no budget",
    "please don't",
    "kein interesse",
    "nicht interessiert",
    "kein bedarf",
    "nein danke",
    "pas intéressé",
    "pas interessé",
    "pas intéressés",
    "pas intéressée",
    "pas intéressant",
    "non merci",
    "pas besoin",
    "no estamos interesados",
    "no estoy interesado",
    "no estoy interesada",
    "no nos interesa",
    "no me interesa",
    "no gracias",
];

/// Phrases of a positive reply, lower-case.
const POSITIVE_PHRASES: &[&str] = &[
    "interested",
    "sounds good",
    "sounds great",
    "let's talk",
    "lets talk",
    "let's chat",
    "let's set up",
    "let's schedule",
    "happy to chat",
    "happy to talk",
    "happy to meet",
    "would love to",
    "i'd love to",
    "schedule a call",
    "set up a call",
    "book a call",
    "book a time",
    "jump on a call",
    "hop on a call",
    "tell me more",
    "send me more",
    "more information",
    "more details",
    "pricing",
    "a demo",
    "are you free",
    "what times",
    "what time works",
    "next week works",
    "gerne",
    "interessiert",
    "interesse",
    "termin",
    "klingt gut",
    "intéressé",
    "interessé",
    "volontiers",
    "avec plaisir",
    "rendez-vous",
    "me interesa",
    "interesado",
    "interesada",
    "con gusto",
    "encantado",
    "encantada",
    "reunión",
];

/// True when `phrase` occurs in `haystack` on word boundaries (a phrase edge that is a letter or
/// digit must not touch another letter or digit), so `termin` does not match `determine`.
#[must_use]
pub fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    let starts_word = phrase.chars().next().is_some_and(char::is_alphanumeric);
    let ends_word = phrase
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric);
    haystack.match_indices(phrase).any(|(i, _)| {
        let before_ok = !starts_word
            || haystack[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric());
        let after_ok = !ends_word
            || haystack[i + phrase.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric());
        before_ok && after_ok
    })
}

/// `s` with runs of whitespace (including folded header lines) collapsed to one space.
#[must_use]
pub fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lower-cased `s` with runs of whitespace collapsed to one space.
#[must_use]
pub fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Strips `Re:`/`AW:`/`Fwd:`/`RE :`… prefixes from a normalised subject.
fn strip_reply_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let before = s;
        for p in ["re", "aw", "sv", "fw", "fwd", "wg", "tr", "rv", "r", "antw"] {
            if let Some(rest) = s.strip_prefix(p) {
                let rest = rest.trim_start();
                // Allow `RE[2]:` as some clients write.
                let rest = rest
                    .strip_prefix('[')
                    .and_then(|r| r.split_once(']').map(|(_, tail)| tail))
                    .unwrap_or(rest);
                if let Some(rest) = rest.trim_start().strip_prefix(':') {
                    s = rest.trim_start();
                }
            }
        }
        if s == before {
            return s;
        }
    }
}

/// True when the subject starts like a reply (`Re:`, `AW:`, `SV:`, `RE[2]:` …); forwards
/// (`Fw:`, `WG:`, `TR:`) are not replies.
#[must_use]
pub fn subject_is_reply(subject: &str) -> bool {
    let s = normalise(subject);
    ["re", "aw", "sv", "vs", "antw", "odp", "rif", "r"]
        .iter()
        .any(|p| {
            s.strip_prefix(p).is_some_and(|rest| {
                let rest = rest.trim_start();
                let rest = rest
                    .strip_prefix('[')
                    .and_then(|r| r.split_once(']').map(|(_, tail)| tail))
                    .unwrap_or(rest);
                rest.trim_start().starts_with(':')
            })
        })
}

/// The out-of-office phrase found in a subject, if any.
#[must_use]
pub fn out_of_office_subject(subject: &str) -> Option<&'static str> {
    let s = normalise(subject);
    let s = strip_reply_prefixes(&s);
    AUTO_REPLY_SUBJECT_PREFIXES
        .iter()
        .find(|p| {
            s.strip_prefix(*p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', ' ', '-', '(']))
        })
        .or_else(|| {
            OUT_OF_OFFICE_SUBJECT_PHRASES
                .iter()
                .find(|p| contains_phrase(s, p))
        })
        .copied()
}

/// The out-of-office phrase found in a body, if any.
#[must_use]
pub fn out_of_office_body(body: &str) -> Option<&'static str> {
    let b = normalise(body);
    OUT_OF_OFFICE_BODY_PHRASES
        .iter()
        .find(|p| contains_phrase(&b, p))
        .copied()
}

/// The phrase asking us to stop, found in the new text or subject of a reply, if any.
#[must_use]
pub fn stop_request(subject: &str, new_text: &str) -> Option<&'static str> {
    let subject = normalise(subject);
    let subject = strip_reply_prefixes(&subject);
    let text = normalise(new_text);
    STOP_PHRASES
        .iter()
        .find(|p| contains_phrase(subject, p) || contains_phrase(&text, p))
        .copied()
}

/// Tone of a reply, decided by phrase lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Interested.
    Positive(&'static str),
    /// Not interested.
    Negative(&'static str),
    /// Neither, or unclear.
    Neutral,
}

/// The deterministic tone of a reply's new text: negative phrases win over positive ones
/// (so "not interested" is negative although it contains "interested").
#[must_use]
pub fn tone(new_text: &str) -> Tone {
    let t = normalise(new_text);
    if let Some(p) = NEGATIVE_PHRASES.iter().find(|p| contains_phrase(&t, p)) {
        return Tone::Negative(p);
    }
    if let Some(p) = POSITIVE_PHRASES.iter().find(|p| contains_phrase(&t, p)) {
        return Tone::Positive(p);
    }
    Tone::Neutral
}

/// Lines that introduce quoted text in replies (lower-case, after trimming).
fn is_attribution(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    if l.starts_with("-----original message")
        || l.starts_with("----- original message")
        || l.starts_with("-----ursprüngliche nachricht")
        || l.starts_with("-----message d'origine")
        || l.starts_with("-----mensaje original")
        || l.starts_with("________________________________")
        || l.starts_with("--- original")
    {
        return true;
    }
    let opener = ["on ", "am ", "le ", "el ", "il ", "op ", "em ", "den "];
    let closer = [
        "wrote:",
        "schrieb:",
        "a écrit :",
        "a écrit:",
        "escribió:",
        "ha scritto:",
        "schreef:",
        "escreveu:",
        "skrev:",
    ];
    opener.iter().any(|o| l.starts_with(o)) && closer.iter().any(|c| l.ends_with(c))
}

/// The new part of a reply: everything before the first quote attribution, an Outlook header
/// block or a signature separator, without `>`-quoted lines.
#[must_use]
pub fn new_text(body: &str) -> String {
    let mut out = Vec::new();
    let lines: Vec<&str> = body.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "-- " || trimmed == "--" || is_attribution(trimmed) {
            break;
        }
        // Outlook writes "From: …" then "Sent: …"/"Gesendet: …"/"Envoyé : …"/"Enviado el: …".
        let lower = trimmed.trim_start().to_lowercase();
        if ["from:", "von:", "de :", "de:"]
            .iter()
            .any(|p| lower.starts_with(p))
            && lines.get(i + 1).is_some_and(|next| {
                let n = next.trim_start().to_lowercase();
                ["sent:", "date:", "gesendet:", "envoyé", "enviado", "datum:"]
                    .iter()
                    .any(|p| n.starts_with(p))
            })
        {
            break;
        }
        // Attributions are sometimes wrapped over two lines.
        if let Some(next) = lines.get(i + 1)
            && is_attribution(&format!("{} {}", trimmed, next.trim()))
        {
            break;
        }
        if trimmed.trim_start().starts_with('>') {
            continue;
        }
        out.push(trimmed);
    }
    out.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert!(subject_is_reply("Re: hello"));
        assert!(subject_is_reply("AW: Angebot"));
        assert!(subject_is_reply("RE[2]: x"));
        assert!(!subject_is_reply("Hello"));
        assert!(!subject_is_reply("Reading list"));
        assert!(!subject_is_reply("Fw: offer"));
        assert!(subject_is_reply("Re: Fw: offer"));
        assert_eq!(
            out_of_office_subject("Automatic reply: Quick question"),
            Some("automatic reply")
        );
        assert_eq!(
            out_of_office_subject("Automatische Antwort: Ihre Anfrage"),
            Some("automatische antwort")
        );
        assert_eq!(
            out_of_office_subject("Réponse automatique : Votre message"),
            Some("réponse automatique")
        );
        assert_eq!(
            out_of_office_subject("Respuesta automática: Hola"),
            Some("respuesta automática")
        );
        assert!(out_of_office_subject("Re: Out of Office until Monday").is_some());
        assert!(out_of_office_subject("Re: Quick question").is_none());
        assert!(out_of_office_subject("Autoreplying considered harmful").is_none());
    }

    #[test]
    fn quotes_are_removed() {
        let body = "Sounds good, let's talk Tuesday.\n\nOn Mon, 3 Mar 2025 at 10:00, Ann <a@b.co> wrote:\n> To unsubscribe reply STOP\n";
        assert_eq!(new_text(body), "Sounds good, let's talk Tuesday.");
        let outlook =
            "Not interested.\n\nFrom: Ann <a@b.co>\nSent: Monday\nSubject: x\n\nunsubscribe here";
        assert_eq!(new_text(outlook), "Not interested.");
        let wrapped =
            "Yes please\n\nOn Mon, 3 Mar 2025 at 10:00, Ann Example\n<a@b.co> wrote:\n> hi";
        assert_eq!(new_text(wrapped), "Yes please");
        assert_eq!(new_text("> only quote"), "");
    }

    #[test]
    fn tones_and_stops() {
        assert!(matches!(tone("We are not interested."), Tone::Negative(_)));
        assert!(matches!(tone("Kein Interesse, danke"), Tone::Negative(_)));
        assert!(matches!(tone("Sounds good, let's talk"), Tone::Positive(_)));
        assert!(matches!(tone("Me interesa, hablamos"), Tone::Positive(_)));
        assert_eq!(tone("Thanks for the note."), Tone::Neutral);
        assert_eq!(tone("We need to determine the scope."), Tone::Neutral);
        assert!(stop_request("Re: hi", "Please remove me from your list").is_some());
        assert!(stop_request("unsubscribe", "").is_some());
        assert!(stop_request("Re: hi", "Bitte entfernen Sie mich").is_some());
        assert!(stop_request("Re: hi", "Thanks, call me next week").is_none());
    }
}
