//! # salesagent
//!
//! Turns inbound leads into ready-to-send, personal sales emails, and keeps a human operator in
//! control of what goes out. A form submission becomes a stored draft in one pipeline (CRM
//! contact and company, mail history, documents, meeting slots, the sender's voice, a language
//! model, an ICP score); operators approve, edit or reject; approved drafts go out exactly once,
//! within limits, never to suppressed addresses, and only when real sends are switched on.
//!
//! This package re-exports the three crates of the workspace and adds the axum host:
//!
//! | capability | where |
//! |---|---|
//! | domain model, port traits, pipeline, worker, scoring, send policy, voice, outcomes | [`core`] (`salesagent-core`) |
//! | HubSpot, Gmail, Google Drive and Calendar, OpenAI, OAuth, one HTTP layer | [`connectors`] (`salesagent-connectors`) |
//! | the `Store` port on SQLite and PostgreSQL, durable job queue, audit log | [`store`] (`salesagent-store`) |
//! | webhook intake, operator API and web page as one axum `Router` | `host` (feature `host`) |
//! | in-memory CRM, mailbox, drive, calendar and store (the hosts' offline ports) | `salesagent_core::offline` |
//! | fault injection and conformance suites for every port | `testing` (feature `testing` of `salesagent-core`) |
//!
//! With the `services` feature (default), [`services`] picks each port's real connector or its
//! offline stand-in from the environment, opens the store a host was pointed at, and runs the
//! `doctor` health checks.
//!
//! The most used types are re-exported at the top level ([`Pipeline`], [`Worker`], [`Draft`],
//! the port traits, [`Error`]).
//!
//! ## Quickstart
//!
//! A pipeline over the in-memory offline ports (`salesagent_core::offline`): submit one form,
//! let a worker drain the queue, read the draft.
//!
//! ```
//! use salesagent::core::model::{EmailAddress, FormSubmission};
//! use salesagent::core::pipeline::{Pipeline, PipelineConfig, Ports};
//! use salesagent::core::ports::{Clock as _, DraftStore as _};
//! use salesagent::core::offline::{
//!     FakeCalendar, FakeCrm, FakeDrive, FakeMailbox, ManualClock, MemoryStore,
//! };
//! use salesagent::core::worker::{Worker, WorkerConfig};
//! use salesagent::core::writer::TemplateLlm;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> salesagent::Result<()> {
//! let clock = ManualClock::new(ManualClock::default_start()).shared();
//! let store = Arc::new(MemoryStore::new(clock.clone()));
//! let ports = Ports {
//!     crm: Arc::new(FakeCrm::new()),
//!     mailbox: Arc::new(FakeMailbox::new().with_clock(clock.clone())),
//!     drive: Arc::new(FakeDrive::new()),
//!     calendar: Arc::new(FakeCalendar::new().with_clock(clock.clone())),
//!     llm: Arc::new(TemplateLlm), // the offline writer; `connectors::openai::OpenAi` in production
//!     store: store.clone(),
//!     clock: clock.clone(),
//! };
//! let sender = EmailAddress::parse("sam@example.com")?;
//! let pipeline = Arc::new(Pipeline::new(ports, PipelineConfig::new(sender)));
//!
//! let form = r#"{
//!     "submission_id": "f-0001",
//!     "form_id": "contact-sales",
//!     "submitted_at": "2026-11-25T09:12:00Z",
//!     "fields": {"email": "ann.lee@acme-robotics.com", "firstname": "Ann",
//!                "company": "Acme Robotics", "message": "Can we see a demo?"}
//! }"#;
//! let submission = FormSubmission::from_canonical_json(form, clock.now())?;
//! let submitted = pipeline.submit(&submission).await?; // stored + one durable job
//!
//! let worker = Worker::new(pipeline.clone(), WorkerConfig::default());
//! let stats = worker.run_until_idle(1).await?; // the pipeline job and the CRM follow-up
//! assert_eq!(stats.dead, 0);
//!
//! let draft = store
//!     .find_draft_by_submission(submitted.submission_id)
//!     .await?
//!     .expect("one draft per submission");
//! assert_eq!(draft.contact_email.to_string(), "ann.lee@acme-robotics.com");
//! assert!(!draft.subject.is_empty() && draft.body.contains("Ann"));
//! # Ok(()) }
//! ```
//!
//! ## Deciding a send
//!
//! [`SendPolicy`] answers "may this approved draft go out now?":
//! kill switch, suppression list, send window, volume limits, in that order. The default mode is
//! `DraftOnly`, where nothing leaves the mailbox.
//!
//! ```
//! # use salesagent::core::model::{EmailAddress, FormSubmission};
//! # use salesagent::core::pipeline::{Pipeline, PipelineConfig, Ports};
//! # use salesagent::core::ports::Clock as _;
//! # use salesagent::core::offline::{FakeCalendar, FakeCrm, FakeDrive, FakeMailbox, ManualClock, MemoryStore};
//! # use salesagent::core::writer::TemplateLlm;
//! # use std::sync::Arc;
//! use salesagent::core::model::{SendDecision, Suppression, SuppressionReason};
//! use salesagent::core::ports::SendStore as _;
//! use salesagent::core::sending::{PolicyConfig, SendPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> salesagent::Result<()> {
//! # let clock = ManualClock::new(ManualClock::default_start()).shared();
//! # let store = Arc::new(MemoryStore::new(clock.clone()));
//! # let ports = Ports { crm: Arc::new(FakeCrm::new()), mailbox: Arc::new(FakeMailbox::new()),
//! #     drive: Arc::new(FakeDrive::new()), calendar: Arc::new(FakeCalendar::new()),
//! #     llm: Arc::new(TemplateLlm), store: store.clone(), clock: clock.clone() };
//! # let pipeline = Pipeline::new(ports, PipelineConfig::new(EmailAddress::parse("sam@example.com")?));
//! # let form = r#"{"submission_id": "f-2", "form_id": "f", "submitted_at": "2026-11-25T09:12:00Z",
//! #     "fields": {"email": "bo@northwind.example"}}"#;
//! # let draft_id = pipeline.process(&FormSubmission::from_canonical_json(form, clock.now())?).await?;
//! # use salesagent::core::ports::DraftStore as _;
//! # let draft = store.get_draft(draft_id).await?;
//! // `store` is any `Store` (here the in-memory fake), `draft` one the pipeline wrote.
//! let policy = SendPolicy::new(PolicyConfig::default());
//! let decision = policy.decide(store.as_ref(), &draft, None, clock.now()).await?;
//! assert_eq!(decision, SendDecision::Allow); // DraftOnly: becomes a mailbox draft
//!
//! store
//!     .suppress(&Suppression {
//!         email: draft.contact_email.clone(),
//!         reason: SuppressionReason::Unsubscribed,
//!         note: None,
//!         added_at: clock.now(),
//!     })
//!     .await?;
//! let decision = policy.decide(store.as_ref(), &draft, None, clock.now()).await?;
//! assert!(matches!(decision, SendDecision::Deny { .. }));
//! # Ok(()) }
//! ```
//!
//! ## Feature flags
//!
//! - `host` (default): the `host` module, the axum webhook and operator service
//!   (`host::app(state) -> Router`), ready to serve on its own or to mount inside an existing
//!   axum application (`examples/embed_axum.rs`). Without it the package pulls in no web server.
//!
//! The member crates have their own: `salesagent-core/testing` (fakes and conformance suites),
//! `salesagent-store/testing` (a throwaway PostgreSQL server for tests).
//!
//! ## Errors
//!
//! Every fallible call returns [`Result<T>`](Result) with one [`Error`] type whose variants say
//! what the caller should do: `NotFound`, `Conflict`, `InvalidInput` (bad input is always a typed
//! error, never a panic), `Unauthenticated`, `PermissionDenied`, `RateLimited`, `Unavailable`,
//! `Timeout`, `Unsupported`, `Backend`. [`Error::is_retryable`] and [`Error::retry_after`] drive
//! retries (the job queue and the HTTP layer use them); [`Error::kind`] is a stable snake_case
//! name for logs and APIs. Messages never contain secrets.
//!
//! ## Plugging in your own systems
//!
//! Every external system is a small `#[async_trait]` port ([`Crm`], [`Mailbox`], [`Drive`],
//! [`Calendar`], [`Llm`], [`Store`], [`Clock`]). Implement the trait and prove it with the
//! port's conformance suite, `testing::conformance::<port>::run` of `salesagent-core`:
//! `examples/custom_crm.rs` is a complete `Crm` over CSV files that passes the CRM suite in
//! `tests/custom_crm.rs`. `examples/embed_axum.rs` mounts the intake router and runs workers
//! inside an existing axum service sharing one database pool.

pub use salesagent_connectors as connectors;
pub use salesagent_core as core;
pub use salesagent_store as store;

pub use salesagent_core::model::{Draft, DraftId, DraftStatus, EmailAddress, FormSubmission};
pub use salesagent_core::pipeline::Pipeline;
pub use salesagent_core::ports::{Calendar, Clock, Crm, Drive, Llm, Mailbox, Store};
pub use salesagent_core::sending::SendPolicy;
pub use salesagent_core::worker::Worker;
pub use salesagent_core::{Error, Result};

#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "services")]
pub mod services;
#[cfg(feature = "services")]
pub mod settings;

#[cfg(feature = "replay")]
pub mod replay;
