//! The domain model: plain, serde-serialisable values with stable snake_case names.

mod audit;
mod calendar;
mod crm;
mod draft;
mod drive;
mod email;
mod form;
mod ids;
mod job;
mod message;
mod oauth;
mod outcome;
mod send;
mod voice;
mod workflow;

pub use audit::{AuditEntry, AuditVerification, ErasureReport, NewAuditEntry, verify_chain};
pub use calendar::{Attendee, AttendeeResponse, CalendarEvent, EventStatus, Interval, NewEvent};
pub use crm::{
    Company, Contact, DealChange, DealChangePage, DealClosed, NewContact, NewNote, NewTask, Note,
    Task, TaskStatus,
};
pub use draft::{
    Draft, DraftAction, DraftEvent, DraftFlag, DraftSnapshot, DraftStatus, DraftWriter, IcpScore,
    MAX_BODY_LEN, MAX_SUBJECT_LEN, RuleDecision, RuleVerdict, ScoreFactor, SendClaim,
    validate_body, validate_subject,
};
pub use draft::{DraftingReport, TemplateReason, UsedFact};
pub use drive::{DriveFile, DriveQuery};
pub use email::{
    Domain, EmailAddress, FREE_MAIL_DOMAINS, MAX_ADDRESS_LEN, MAX_DOMAIN_LEN, MAX_LOCAL_LEN,
};
pub use form::{
    CanonicalSubmission, FormSubmission, LeadFields, MAX_FIELD_LEN, SubmissionSource, clean_line,
    truncate_on_char_boundary,
};
pub use ids::{
    CrmId, DraftId, EventId, FileId, JobId, LeaseToken, OutcomeId, ProviderMessageId, RunId,
    SubmissionId, ThreadId, VoiceProfileId,
};
pub use job::{
    ClaimedJob, Job, JobFailure, JobFilter, JobState, Lease, NewJob, RetryPolicy, kinds,
};
pub use message::{
    HistoryPage, MailMessage, MailQuery, MessageDirection, MessageId, MessagePage, MessageRecord,
    OutgoingMessage, SentMessage, ThreadRef,
};
pub use oauth::OAuthToken;
pub use outcome::{Outcome, OutcomeCategory, OutcomeType};
pub use send::{
    ApprovedRecipient, Denial, LimitHit, LimitScope, SendDecision, SendLimit, SendLimits,
    SendReservation, Suppression, SuppressionReason,
};
pub use voice::{VoiceProfile, VoiceStats, VoiceStyle};
pub use workflow::{RunStatus, StepRecord, StepStatus, WorkflowRun};
