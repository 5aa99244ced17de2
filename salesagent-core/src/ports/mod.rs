//! Port traits: the seams between salesagent's logic and the outside world.
//!
//! Each port is a small `#[async_trait]` trait that is `Send + Sync + Debug + 'static`, with a
//! `Dyn…` alias for `Arc<dyn …>`. `Arc<T>` and `Box<T>` of a port are ports too.

mod calendar;
mod clock;
mod crm;
mod drive;
mod llm;
mod mailbox;
mod operators;
mod speech;
mod store;

pub use calendar::{Calendar, DynCalendar};
pub use clock::{Clock, DynClock, SystemClock};
pub use crm::{Crm, DynCrm};
pub use drive::{Drive, DynDrive};
pub use llm::{ChatMessage, DynLlm, JsonSchema, Llm, LlmRequest, LlmResponse, Role, TokenUsage};
pub use mailbox::{DynMailbox, Mailbox};
pub use operators::{
    ADMIN_OPERATOR, MAX_OPERATOR_NAME_LEN, OperatorRecord, OperatorStore, claimed_operator,
    new_operator_token, operator_token_hash, validate_operator_name, validate_token_hash,
};
pub use speech::{
    Audio, AudioFormat, DynSpeechToText, DynTextToSpeech, SpeechToText, TextToSpeech,
};
pub use store::AcceptedSubmission;
pub use store::DraftUpdate;
pub use store::SequenceStore;
pub use store::{
    AdminStore, AuditStore, DraftFilter, DraftStore, DynStore, JobStore, KILL_SWITCH_KEY,
    MessageStore, NewDraftRecord, OutcomeFilter, OutcomeStore, RunStore, SecretStore, SendStore,
    SettingsExt, SettingsStore, Store, SubmissionStore, VoiceStore,
};
