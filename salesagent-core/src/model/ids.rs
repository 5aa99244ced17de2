//! Identifier newtypes: UUID v7 (time-ordered) for our own records, strings for remote ids.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUID v7).
            #[must_use]
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
            /// The underlying UUID.
            #[must_use]
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                uuid::Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|e| crate::Error::invalid(stringify!($name), e.to_string()))
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(u: uuid::Uuid) -> Self {
                Self(u)
            }
        }
    };
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a remote identifier.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            /// The identifier as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

uuid_id!(
    /// Identifies a stored [`Draft`](crate::model::Draft).
    DraftId
);
uuid_id!(
    /// Identifies a stored [`FormSubmission`](crate::model::FormSubmission).
    SubmissionId
);
uuid_id!(
    /// Identifies a [`WorkflowRun`](crate::model::WorkflowRun).
    RunId
);
uuid_id!(
    /// Identifies a [`Job`](crate::model::Job) in the durable queue.
    JobId
);
uuid_id!(
    /// Identifies a recorded [`Outcome`](crate::model::Outcome).
    OutcomeId
);
uuid_id!(
    /// Identifies a [`VoiceProfile`](crate::model::VoiceProfile).
    VoiceProfileId
);
uuid_id!(
    /// Identifies a job lease; only the holder of the current lease may finish the job.
    LeaseToken
);

string_id!(
    /// An object id in the CRM (HubSpot record id, or any other CRM's key).
    CrmId
);
string_id!(
    /// A mailbox provider's message id (Gmail message id), not the RFC Message-ID.
    ProviderMessageId
);
string_id!(
    /// A mailbox provider's thread id (Gmail `threadId`).
    ThreadId
);
string_id!(
    /// A Drive file id.
    FileId
);
string_id!(
    /// A calendar event id.
    EventId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_order() {
        let a = DraftId::new();
        let b = DraftId::new();
        assert_ne!(a, b);
        assert!(a < b, "v7 ids are time ordered");
        let parsed: DraftId = a.to_string().parse().unwrap();
        assert_eq!(parsed, a);
        assert!("nope".parse::<DraftId>().is_err());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{a}\""));
    }
}
