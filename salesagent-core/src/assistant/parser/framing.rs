//! The words around a command: filler ("um", "okay so"), politeness ("could you", "please"), a
//! leading yes or no, hedges ("maybe", "I guess"), question forms ("should I …") and sarcasm
//! ("yeah right"). They are peeled off before the command grammar runs and kept as a [`Frame`],
//! so an outward command can be refused when its framing casts doubt on it.

/// What a framing phrase does to the command it surrounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Changes nothing ("um", "okay so").
    Filler,
    /// A polite request ("could you", "please"): a `?` after it does not make a question.
    Polite,
    /// A leading yes ("yes,", "sure,").
    Affirm,
    /// A leading no ("no,", "nope,").
    Negate,
    /// Unsure ("maybe", "I guess").
    Hedge,
    /// Asks rather than tells ("should I", "…, right?").
    Question,
    /// Says the opposite of what it means ("yeah right").
    Sarcasm,
}

use Role::{Affirm, Filler, Hedge, Negate, Polite, Question, Sarcasm};

/// How the words around a command colour it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Frame {
    /// A leading yes.
    pub affirm: bool,
    /// A leading no.
    pub negate: bool,
    /// A hedge before or after.
    pub hedge: bool,
    /// A question form, or a `?` at the end without a polite request.
    pub question: bool,
    /// A polite request.
    pub polite: bool,
    /// Sarcasm-like phrasing.
    pub sarcasm: bool,
}

impl Frame {
    fn with(mut self, role: Role) -> Self {
        match role {
            Filler => {}
            Polite => self.polite = true,
            Affirm => self.affirm = true,
            Negate => self.negate = true,
            Hedge => self.hedge = true,
            Question => self.question = true,
            Sarcasm => self.sarcasm = true,
        }
        self
    }

    /// Both frames' flags.
    pub fn and(self, other: Self) -> Self {
        Self {
            affirm: self.affirm || other.affirm,
            negate: self.negate || other.negate,
            hedge: self.hedge || other.hedge,
            question: self.question || other.question,
            polite: self.polite || other.polite,
            sarcasm: self.sarcasm || other.sarcasm,
        }
    }

    /// Marks a question when the text ends with `?` and was not a polite request ("could you
    /// send it?" is a request, "send it?" is a question).
    pub fn with_question_mark(mut self, ends_with_question_mark: bool) -> Self {
        if ends_with_question_mark && !self.polite {
            self.question = true;
        }
        self
    }
}

/// Phrases a command may start with.
const LEADING: &[(&str, Role)] = &[
    ("um", Filler),
    ("umm", Filler),
    ("uh", Filler),
    ("uhh", Filler),
    ("er", Filler),
    ("erm", Filler),
    ("hmm", Filler),
    ("hm", Filler),
    ("ah", Filler),
    ("oh", Filler),
    ("so", Filler),
    ("well", Filler),
    ("like", Filler),
    ("ok so", Filler),
    ("okay so", Filler),
    ("alright so", Filler),
    ("all right so", Filler),
    ("right so", Filler),
    ("so yeah", Filler),
    ("yeah so", Filler),
    ("ok then", Filler),
    ("okay then", Filler),
    ("alright then", Filler),
    ("right then", Filler),
    ("you know", Filler),
    ("i mean", Filler),
    ("basically", Filler),
    ("actually", Filler),
    ("honestly", Filler),
    ("just", Filler),
    ("anyway", Filler),
    ("anyways", Filler),
    ("and", Filler),
    ("now", Filler),
    ("hey", Filler),
    ("hi", Filler),
    ("hello", Filler),
    ("hey assistant", Filler),
    ("ok assistant", Filler),
    ("okay assistant", Filler),
    ("hey jarvis", Filler),
    ("assistant", Filler),
    ("jarvis", Filler),
    ("lets see", Filler),
    ("let me think", Filler),
    ("thanks", Filler),
    ("thank you", Filler),
    ("tell me", Filler),
    ("ill", Filler),
    ("i will", Filler),
    ("i want to", Filler),
    ("i would like to", Filler),
    ("id like to", Filler),
    ("i wanna", Filler),
    ("lets", Filler),
    ("let us", Filler),
    ("please", Polite),
    ("pls", Polite),
    ("plz", Polite),
    ("kindly", Polite),
    ("can you", Polite),
    ("could you", Polite),
    ("would you", Polite),
    ("will you", Polite),
    ("can you please", Polite),
    ("could you please", Polite),
    ("would you please", Polite),
    ("will you please", Polite),
    ("can you just", Polite),
    ("could you just", Polite),
    ("would you mind", Polite),
    ("would you kindly", Polite),
    ("if you could", Polite),
    ("if you would", Polite),
    ("if you dont mind", Polite),
    ("do me a favour and", Polite),
    ("do me a favor and", Polite),
    ("i need you to", Polite),
    ("i want you to", Polite),
    ("id like you to", Polite),
    ("go ahead and", Polite),
    ("feel free to", Polite),
    ("yes", Affirm),
    ("yeah", Affirm),
    ("yep", Affirm),
    ("yup", Affirm),
    ("ya", Affirm),
    ("yea", Affirm),
    ("sure", Affirm),
    ("sure thing", Affirm),
    ("yes please", Affirm),
    ("ok", Affirm),
    ("okay", Affirm),
    ("ok fine", Affirm),
    ("okay fine", Affirm),
    ("alright", Affirm),
    ("all right", Affirm),
    ("right", Affirm),
    ("fine", Affirm),
    ("cool", Affirm),
    ("of course", Affirm),
    ("absolutely", Affirm),
    ("definitely", Affirm),
    ("certainly", Affirm),
    ("go ahead", Affirm),
    ("no", Negate),
    ("nope", Negate),
    ("nah", Negate),
    ("maybe", Hedge),
    ("probably", Hedge),
    ("perhaps", Hedge),
    ("possibly", Hedge),
    ("guess", Hedge),
    ("i think", Hedge),
    ("i guess", Hedge),
    ("i suppose", Hedge),
    ("i reckon", Hedge),
    ("i believe", Hedge),
    ("i feel like", Hedge),
    ("kind of", Hedge),
    ("kinda", Hedge),
    ("sort of", Hedge),
    ("sorta", Hedge),
    ("i dunno", Hedge),
    ("dunno", Hedge),
    ("not sure", Hedge),
    ("im not sure", Hedge),
    ("we could", Hedge),
    ("we might", Hedge),
    ("we should", Hedge),
    ("i should", Hedge),
    ("i would", Hedge),
    ("id", Hedge),
    ("might as well", Hedge),
    ("should i", Question),
    ("should we", Question),
    ("shall i", Question),
    ("shall we", Question),
    ("do i", Question),
    ("do we", Question),
    ("can i", Question),
    ("could i", Question),
    ("may i", Question),
    ("can we", Question),
    ("could we", Question),
    ("is it ok to", Question),
    ("is it okay to", Question),
    ("is it fine to", Question),
    ("is it alright to", Question),
    ("is it safe to", Question),
    ("is it time to", Question),
    ("is this ok to", Question),
    ("is this okay to", Question),
    ("is this good to", Question),
    ("is it good to", Question),
    ("ok to", Question),
    ("okay to", Question),
    ("do you think", Question),
    ("do you think i should", Question),
    ("do you think we should", Question),
    ("what if i", Question),
    ("what if we", Question),
    ("would it be ok to", Question),
    ("would it be okay to", Question),
    ("how about", Question),
    ("how about i", Question),
    ("how about we", Question),
    ("why dont we", Question),
    ("why dont i", Question),
    ("why dont you", Question),
    ("why not", Question),
    ("did you", Question),
    ("did i", Question),
    ("have you", Question),
    ("are you sure", Question),
    ("yeah right", Sarcasm),
    ("yea right", Sarcasm),
    ("ya right", Sarcasm),
    ("oh yeah right", Sarcasm),
    ("oh sure", Sarcasm),
    ("oh yeah sure", Sarcasm),
    ("as if", Sarcasm),
    ("sure sure", Sarcasm),
    ("yeah yeah", Sarcasm),
];

/// Phrases a command may end with.
const TRAILING: &[(&str, Role)] = &[
    ("please", Polite),
    ("pls", Polite),
    ("plz", Polite),
    ("thanks", Polite),
    ("thank you", Polite),
    ("and thank you", Polite),
    ("please and thank you", Polite),
    ("thank you very much", Polite),
    ("thanks a lot", Polite),
    ("many thanks", Polite),
    ("thx", Polite),
    ("cheers", Polite),
    ("ta", Polite),
    ("for me", Polite),
    ("if you could", Polite),
    ("if you would", Polite),
    ("if you can", Polite),
    ("if you dont mind", Polite),
    ("ok", Filler),
    ("okay", Filler),
    ("then", Filler),
    ("i guess", Hedge),
    ("i think", Hedge),
    ("i suppose", Hedge),
    ("i reckon", Hedge),
    ("maybe", Hedge),
    ("probably", Hedge),
    ("perhaps", Hedge),
    ("or something", Hedge),
    ("or whatever", Hedge),
    ("if you want", Hedge),
    ("if you like", Hedge),
    ("if you think so", Hedge),
    ("not sure", Hedge),
    ("im not sure", Hedge),
    ("i dunno", Hedge),
    ("dunno", Hedge),
    ("right", Question),
    ("yeah", Question),
    ("or not", Question),
    ("or what", Question),
    ("shall we", Question),
    ("shall i", Question),
    ("should we", Question),
    ("should i", Question),
    ("do you think", Question),
    ("you think", Question),
    ("dont you think", Question),
    ("agreed", Question),
    ("yes or no", Question),
    ("yeah right", Sarcasm),
    ("as if", Sarcasm),
];

/// Lower case, apostrophes dropped, every other non-alphanumeric character a space, single
/// spaces.
pub(super) fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`') {
            continue;
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The index after `phrase` when `words[at..]` starts with it.
pub(super) fn starts_with(words: &[&str], at: usize, phrase: &str) -> Option<usize> {
    let mut i = at;
    for w in phrase.split(' ') {
        if *words.get(i)? != w {
            return None;
        }
        i += 1;
    }
    Some(i)
}

/// The index where `phrase` starts when `words[..end]` ends with it.
fn ends_with(words: &[&str], end: usize, phrase: &str) -> Option<usize> {
    let n = phrase.split(' ').count();
    let start = end.checked_sub(n)?;
    starts_with(&words[..end], start, phrase).map(|_| start)
}

/// Where the command may start: each boundary after a leading framing phrase, outermost first,
/// with the frame of the words before it. Never consumes the last word; an empty word (a lone
/// dash) counts as filler.
pub(super) fn leading(words: &[&str]) -> Vec<(usize, Frame)> {
    let mut at = 0;
    let mut frame = Frame::default();
    let mut out = vec![(at, frame)];
    loop {
        let step = if words.get(at).is_some_and(|w| w.is_empty()) {
            Some((at + 1, Filler))
        } else {
            LEADING
                .iter()
                .filter_map(|(p, role)| starts_with(words, at, p).map(|end| (end, *role)))
                .max_by_key(|(end, _)| *end)
        };
        match step {
            Some((end, role)) if end < words.len() => {
                at = end;
                frame = frame.with(role);
                out.push((at, frame));
            }
            _ => return out,
        }
    }
}

/// Where the command may end (never before `start + 1`): each boundary before a trailing
/// framing phrase, outermost first, with the frame of the words after it.
pub(super) fn trailing(words: &[&str], start: usize) -> Vec<(usize, Frame)> {
    let mut end = words.len();
    let mut frame = Frame::default();
    let mut out = vec![(end, frame)];
    loop {
        let step = TRAILING
            .iter()
            .filter_map(|(p, role)| ends_with(words, end, p).map(|s| (s, *role)))
            .min_by_key(|(s, _)| *s);
        match step {
            Some((s, role)) if s > start => {
                end = s;
                frame = frame.with(role);
                out.push((end, frame));
            }
            _ => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        s.split(' ').collect()
    }

    #[test]
    fn peels_framing_off_both_ends() {
        let w = words("okay so um yes could you send it please");
        let bounds = leading(&w);
        let (at, frame) = *bounds.last().unwrap();
        assert_eq!(&w[at..], ["send", "it", "please"]);
        assert!(frame.affirm && frame.polite && !frame.question);
        let (end, tail) = *trailing(&w, at).last().unwrap();
        assert_eq!(&w[at..end], ["send", "it"]);
        assert!(tail.polite);
    }

    #[test]
    fn the_longest_phrase_wins_and_the_last_word_stays() {
        let w = words("yeah right send it");
        let (at, frame) = *leading(&w).last().unwrap();
        assert_eq!(at, 2);
        assert!(frame.sarcasm && !frame.affirm);
        let w = words("yes");
        assert_eq!(leading(&w).last().unwrap().0, 0);
        assert_eq!(trailing(&words("please"), 0), [(1, Frame::default())]);
    }
}
