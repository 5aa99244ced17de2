//! The typed assistant commands.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Longest utterance the assistant accepts, in bytes.
pub const MAX_UTTERANCE_LEN: usize = 2000;

/// One thing the operator asked for. Serialised with a `command` tag in snake case, e.g.
/// `{"command":"reject","reason":"too early"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Present the highest-priority pending draft and why it is first.
    Next,
    /// Leave the current draft for later and present the next one.
    Skip,
    /// Approve the current draft.
    Approve,
    /// Reject the current draft.
    Reject {
        /// Why, when the operator said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Change the current draft's subject and/or body.
    Edit {
        /// The new subject.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        /// The new body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// Read the current draft out.
    Show,
    /// How many drafts are pending.
    PendingCount,
    /// Outcome statistics.
    Stats,
    /// What we know about a contact or company.
    Lookup {
        /// A name, company or e-mail address.
        target: String,
    },
    /// Turn the kill switch on: nothing is sent.
    PauseSending,
    /// Turn the kill switch off.
    ResumeSending,
    /// Stop a contact's follow-up sequence by hand (reason `manual`) and discard its unsent
    /// follow-up.
    StopSequence {
        /// The contact's e-mail address, or a name or company to find it by; `None` for the
        /// contact of the current draft.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// The request was ambiguous, unknown or unsafe: ask this instead of acting.
    Clarify {
        /// The question to put to the operator.
        question: String,
    },
}

impl Command {
    /// The stable command name (`next`, `pending_count`, …).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Skip => "skip",
            Self::Approve => "approve",
            Self::Reject { .. } => "reject",
            Self::Edit { .. } => "edit",
            Self::Show => "show",
            Self::PendingCount => "pending_count",
            Self::Stats => "stats",
            Self::Lookup { .. } => "lookup",
            Self::PauseSending => "pause_sending",
            Self::ResumeSending => "resume_sending",
            Self::StopSequence { .. } => "stop_sequence",
            Self::Clarify { .. } => "clarify",
        }
    }

    /// Every command name, in declaration order.
    pub const NAMES: [&'static str; 13] = [
        "next",
        "skip",
        "approve",
        "reject",
        "edit",
        "show",
        "pending_count",
        "stats",
        "lookup",
        "pause_sending",
        "resume_sending",
        "stop_sequence",
        "clarify",
    ];

    /// A clarifying question.
    pub fn clarify(question: impl Into<String>) -> Self {
        Self::Clarify {
            question: question.into(),
        }
    }

    /// True for [`Command::Clarify`].
    #[must_use]
    pub fn is_clarify(&self) -> bool {
        matches!(self, Self::Clarify { .. })
    }

    /// The command as one line of JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serialising a plain enum of strings cannot fail.
        serde_json::to_string(self)
            .unwrap_or_else(|_| format!("{{\"command\":\"{}\"}}", self.name()))
    }

    /// Checks the payload: texts are non-empty, bounded and (except a body) single-line; an edit
    /// changes something.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        fn line(field: &str, v: &str, max: usize) -> Result<()> {
            if v.trim().is_empty() {
                return Err(Error::invalid(field, "is empty"));
            }
            if v.len() > max {
                return Err(Error::invalid(field, format!("longer than {max} bytes")));
            }
            if v.chars().any(char::is_control) {
                return Err(Error::invalid(field, "contains control characters"));
            }
            Ok(())
        }
        match self {
            Self::Reject {
                reason: Some(reason),
            } => line("reason", reason, 500),
            Self::Edit { subject, body } => {
                if subject.is_none() && body.is_none() {
                    return Err(Error::invalid("edit", "nothing to change"));
                }
                if let Some(s) = subject {
                    crate::model::validate_subject(s)?;
                }
                if let Some(b) = body {
                    crate::model::validate_body(b)?;
                }
                Ok(())
            }
            Self::Lookup { target }
            | Self::StopSequence {
                target: Some(target),
            } => line("target", target, 200),
            Self::Clarify { question } => line("question", question, 1000),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let c = Command::Reject {
            reason: Some("too early".into()),
        };
        assert_eq!(c.to_json(), r#"{"command":"reject","reason":"too early"}"#);
        assert_eq!(
            Command::PendingCount.to_json(),
            r#"{"command":"pending_count"}"#
        );
        assert_eq!(
            serde_json::from_str::<Command>(r#"{"command":"lookup","target":"Acme"}"#).unwrap(),
            Command::Lookup {
                target: "Acme".into()
            }
        );
        assert_eq!(
            Command::Reject { reason: None }.to_json(),
            r#"{"command":"reject"}"#
        );
        for n in Command::NAMES {
            assert!(!n.is_empty());
        }
    }

    #[test]
    fn validation() {
        assert!(
            Command::Edit {
                subject: None,
                body: None
            }
            .validate()
            .is_err()
        );
        assert!(
            Command::Edit {
                subject: Some("a\r\nBcc: x@y.z".into()),
                body: None
            }
            .validate()
            .is_err()
        );
        assert!(
            Command::Lookup {
                target: "  ".into()
            }
            .validate()
            .is_err()
        );
        assert!(Command::Approve.validate().is_ok());
    }
}
