//! The operator assistant: work the draft queue by text or voice, safely.
//!
//! - [`Command`]: the typed commands (`next`, `skip`, `approve`, `reject`, `edit`, `show`,
//!   `pending_count`, `stats`, `lookup`, `pause_sending`, `resume_sending`, `clarify`), serialised
//!   as `{"command":"reject","reason":"too early"}`.
//! - [`parse`]: a deterministic parser for everyday phrasings: a leading "yes," or "no,", "don't
//!   …", "for now" or "this week", a reason after a dash or "because", "that one" for the current
//!   draft, "could you", "um". It never guesses: a request it cannot place is
//!   [`Parsed::Undecided`]; a compound, bulk or destructive one ("approve all and delete the
//!   rest"), and an approval or rejection in doubt ("should I approve this?", "send it this
//!   week", "no, send it", "yeah right, send it") is a [`Command::Clarify`].
//! - [`Interpreter`]: the parser first, then (only for undecided text) an [`Llm`](crate::ports::Llm)
//!   constrained by a JSON schema, whose answer is validated onto the same [`Command`]; anything
//!   invalid becomes a clarifying question. The operator's words are data, never instructions.
//! - [`AssistantSession`]: one operator's conversation over the store and the
//!   [`OperatorQueue`](crate::sending::OperatorQueue): the current draft, skipped drafts, and
//!   confirmation ("yes"/"no") before outward actions. Replies are plain text suitable for speech.

mod command;
mod interpret;
mod parser;
mod session;

pub use command::{Command, MAX_UTTERANCE_LEN};
pub use interpret::{Interpretation, Interpreter, Source, command_schema, validate_llm_answer};
pub use parser::{Confirmation, Parsed, parse, parse_confirmation};
pub use session::{AssistantConfig, AssistantSession, Reply, explain_priority};
