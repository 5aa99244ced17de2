//! What the assistant asks back instead of acting. Each ends with a question or lists what the
//! operator can say.

/// Bulk or destructive requests.
pub(crate) const Q_BULK: &str = "I can only act on one draft at a time, and I never delete anything. \
What should I do with the current draft: approve it, reject it, skip it, or read it to you?";
/// More than one action in one request.
pub(crate) const Q_COMPOUND: &str =
    "That sounds like more than one thing. I do one thing at a time: what should I do first?";
/// Anything not understood.
pub(crate) const Q_UNKNOWN: &str = "Sorry, I did not understand that. You can say: what's next, \
approve, reject with a reason, skip, read it to me, change the subject to something, how many are \
pending, stats, tell me about a company, stop the follow-ups, pause sending, or resume sending.";
pub(super) const Q_EMPTY: &str = "I did not catch anything. What would you like to do?";
pub(super) const Q_TOO_LONG: &str =
    "That was too long for a command. What would you like to do, in a few words?";
pub(super) const Q_MARKUP: &str = "That looks like code or markup, which I do not run. What would you like to do, in plain words?";
pub(super) const Q_BARE_YES_NO: &str = "There is nothing waiting for a yes or no. What would you like to do: approve, reject, skip, or hear what's next?";
pub(super) const Q_EDIT_WHAT: &str = "What should I change, the subject or the body? For example: change the subject to Quick question.";
pub(super) const Q_LOOKUP_WHO: &str = "Who or which company should I look up?";
/// An approval with a time other than now ("send it this week"): sends cannot be scheduled.
pub(super) const Q_SCHEDULE: &str = "I cannot schedule a send for later: approving sends it as \
soon as the send window and limits allow. Should I skip it for now so you can come back to it, \
or do you want it approved now?";
/// A bare time ("tomorrow") with nothing to do at that time.
pub(super) const Q_WHEN: &str = "I act right away and cannot do things at a set time. Should I \
skip this draft for now, so you can come back to it later?";
/// Another command with a time other than now ("read it tomorrow").
pub(super) const Q_LATER: &str = "I act right away and cannot do things at a set time. What should \
I do now: skip this draft for now, or something else?";
/// "Reject it for now": rejecting is final.
pub(super) const Q_REJECT_FOR_NOW: &str = "Rejecting is final, not just for now. Do you want it \
rejected for good, or skipped for now so you can come back to it?";
/// A no and an approval together ("no, send it", "don't approve it").
pub(super) const Q_NEGATED: &str = "I heard a no and an approval together, so I did nothing. \
Should I approve it, reject it, or skip it for now?";
/// A negated command other than approve ("don't reject it", "don't pause").
pub(super) const Q_NEGATED_OTHER: &str = "OK, I did nothing. What should I do instead: approve it, reject it, skip it, or read it to you?";
/// A question about acting ("should I approve this?").
pub(super) const Q_QUESTION: &str = "That sounded like a question, so I did nothing. The decision \
is yours: say approve, reject with a reason, or skip. Shall I read the draft to you first?";
/// A hedged decision ("maybe send it", "reject it I guess").
pub(super) const Q_HEDGE: &str = "You sound unsure, so I did nothing. Say approve or reject when \
you are sure, or skip to come back to it. Shall I read it to you again?";
/// Sarcasm-like phrasing ("yeah right, send it").
pub(super) const Q_UNSURE: &str = "I could not tell whether you meant that, so I did nothing. \
Should I approve it, reject it, or skip it?";
/// An approval the grammar could not place (another draft, a condition, an odd object).
pub(super) const Q_APPROVE_PLAIN: &str = "I only approve the draft in front of you, when you \
say so plainly, and I was not sure that is what you meant. You can say: approve it, reject it, \
skip it, or read it to me.";
/// A rejection the grammar could not place (another draft, a reason without a separator).
pub(super) const Q_REJECT_HOW: &str = "I only reject the draft in front of you, and I was not \
sure that is what you meant. You can say: reject it, or reject it because and your reason.";
