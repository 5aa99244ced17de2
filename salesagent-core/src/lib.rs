//! # salesagent-core
//!
//! The domain model, the port traits and all pure logic of salesagent: no network and no
//! database crates live here, so everything in it runs in unit tests and doctests as is.
//!
//! | capability | where |
//! |---|---|
//! | ids, validated [`EmailAddress`](model::EmailAddress), drafts and their state machine, submissions, jobs, outcomes | [`model`] |
//! | the ports: [`Crm`](ports::Crm), [`Mailbox`](ports::Mailbox), [`Drive`](ports::Drive), [`Calendar`](ports::Calendar), [`Llm`](ports::Llm), [`Store`](ports::Store), [`Clock`](ports::Clock), speech | [`ports`] |
//! | form → draft over the ports, one durable job per submission | [`pipeline`], [`worker`] |
//! | prompts (untrusted data fenced off), the offline template writer | [`prompt`], [`writer`] |
//! | ICP fit score, meeting slots | [`scoring`], [`slots`] |
//! | operator queue, send policy, auto-approval rules, MIME, exactly-once sender | [`sending`] |
//! | learning a sender's voice, applying it, measuring similarity | [`voice`] |
//! | replies, meetings and deals detected and attributed to drafts | [`outcomes`] |
//! | the operator's conversational assistant | [`assistant`] |
//! | in-memory CRM, mailbox, drive, calendar and store the hosts run offline, a manual clock | [`offline`] |
//! | the GDPR erasure plan every store backend executes | [`privacy`] |
//! | in-memory fakes of every port with fault injection, conformance suites | `testing` (feature) |
//!
//! ## Quickstart: learning a voice profile
//!
//! Pure functions take plain values. Learn how a sender writes from their sent mail, then score
//! how much a new text sounds like them:
//!
//! ```
//! use salesagent_core::model::EmailAddress;
//! use salesagent_core::voice::{self, VoiceSimilarity as _};
//! use chrono::{TimeZone as _, Utc};
//!
//! # fn main() -> salesagent_core::Result<()> {
//! let now = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
//! let sent = [
//!     "Hi Ann,\n\nThanks for the call today. I'll send the pricing sheet tomorrow.\n\nCheers,\nSam",
//!     "Hi Bo,\n\nGreat to meet you at the fair! Happy to set up a short demo next week.\n\nCheers,\nSam",
//!     "Hi Cleo,\n\nQuick follow-up on the pilot: I've attached the plan.\n\nCheers,\nSam",
//! ];
//! let owner = EmailAddress::parse("sam@example.com")?;
//! let profile = voice::learn(owner, "default", sent, now)?;
//! assert_eq!(profile.message_count, 3);
//!
//! let mine = profile.similarity("Hi Dana,\n\nThanks for your note! I'll send the demo link.\n\nCheers,\nSam");
//! let stiff = profile.similarity("Dear Sir or Madam, we hereby acknowledge receipt of your enquiry.");
//! assert!(mine.value > stiff.value);
//! // The prompt section that asks the model to write like Sam:
//! assert!(voice::style_guide(&profile).contains("Cheers"));
//! # Ok(()) }
//! ```
//!
//! ## A pipeline over the fakes
//!
//! With the `testing` feature (`cargo test --features testing`), every port has an in-memory
//! fake, so the whole form → draft pipeline runs without a network or database:
//!
#![cfg_attr(feature = "testing", doc = "```")]
#![cfg_attr(not(feature = "testing"), doc = "```ignore")]
//! use salesagent_core::model::{EmailAddress, FormSubmission};
//! use salesagent_core::pipeline::{Pipeline, PipelineConfig, Ports};
//! use salesagent_core::ports::{Clock as _, DraftStore as _};
//! use salesagent_core::testing::{
//!     FakeCalendar, FakeCrm, FakeDrive, FakeMailbox, ManualClock, MemoryStore,
//! };
//! use salesagent_core::writer::TemplateLlm;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> salesagent_core::Result<()> {
//! let clock = ManualClock::new(ManualClock::default_start()).shared();
//! let crm = Arc::new(FakeCrm::new());
//! let store = Arc::new(MemoryStore::new(clock.clone()));
//! let ports = Ports {
//!     crm: crm.clone(),
//!     mailbox: Arc::new(FakeMailbox::new().with_clock(clock.clone())),
//!     drive: Arc::new(FakeDrive::new()),
//!     calendar: Arc::new(FakeCalendar::new().with_clock(clock.clone())),
//!     llm: Arc::new(TemplateLlm),
//!     store: store.clone(),
//!     clock: clock.clone(),
//! };
//! let pipeline = Pipeline::new(ports, PipelineConfig::new(EmailAddress::parse("sam@example.com")?));
//! let form = r#"{"submission_id": "s-1", "form_id": "demo", "submitted_at": "2026-11-25T09:12:00Z",
//!                "fields": {"email": "ann@acme-robotics.de", "firstname": "Ann"}}"#;
//! // `process` = `submit` + `run` inline, for a CLI or a test; services enqueue and let a
//! // `worker::Worker` run it.
//! let draft_id = pipeline.process(&FormSubmission::from_canonical_json(form, clock.now())?).await?;
//! let draft = store.get_draft(draft_id).await?;
//! assert_eq!(draft.contact_email.to_string(), "ann@acme-robotics.de");
//! assert_eq!(crm.created_contacts().len(), 1); // the lead became a CRM contact
//! # Ok(()) }
//! ```
//!
//! ## Feature flags
//!
//! - `testing`: in-memory fakes of every port (seedable, with latency and failure knobs,
//!   recording what they were asked to do; the CRM, mailbox, drive, calendar, `ManualClock`
//!   and `MemoryStore` are the [`offline`] ones with their test knobs switched on), and the
//!   conformance suites `testing::conformance::<port>::run` that any implementation of a port
//!   runs against itself. Meant for dev-dependencies.
//!
//! ## Errors
//!
//! One [`Error`] for everything, whose variants say what the caller should do (`NotFound`,
//! `Conflict`, `InvalidInput`, `Unauthenticated`, `PermissionDenied`, `RateLimited`,
//! `Unavailable`, `Timeout`, `Unsupported`, `Backend`). [`Error::is_retryable`] tells transient
//! failures from permanent ones, [`Error::retry_after`] carries a server's requested delay,
//! [`Error::kind`] a stable snake_case name. Bad input is a typed `InvalidInput` naming the
//! field, never a panic; messages never contain secrets.
//!
//! ## Time
//!
//! Core code reads time only through the [`Clock`](ports::Clock) port (`clippy.toml` forbids
//! the wall clock here), so tests move time by hand.

pub mod assistant;
pub mod encoding;
pub mod error;
pub mod layers;
pub mod model;
pub mod offline;
pub mod outcomes;
pub mod pipeline;
pub mod ports;
pub mod privacy;
pub mod prompt;
pub mod scoring;
pub mod sending;
pub mod sequences;
pub mod slots;
#[cfg(feature = "testing")]
pub mod testing;
pub mod voice;
pub mod worker;
pub mod writer;

pub use error::{Error, Result};
