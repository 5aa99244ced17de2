//! The port traits for [`Layered`] and `Arc`: one list of methods per port.
//!
//! Each line names a method, its arguments, its answer (inside `Result`) and, in brackets, the
//! key arguments a [`Layer`] may record (never secrets or whole bodies).

use super::{Layer, Layered, render_args};
use crate::Result;
use crate::model::{
    ApprovedRecipient, AuditEntry, AuditVerification, CalendarEvent, ClaimedJob, Company, Contact,
    CrmId, DealChangePage, Domain, Draft, DraftEvent, DraftId, DraftStatus, DriveFile, DriveQuery,
    EmailAddress, ErasureReport, FileId, FormSubmission, HistoryPage, Interval, Job, JobFailure,
    JobFilter, JobId, JobState, Lease, MailMessage, MailQuery, MessageId, MessagePage,
    MessageRecord, NewAuditEntry, NewContact, NewEvent, NewJob, NewNote, NewTask, Note, OAuthToken,
    Outcome, OutgoingMessage, RunId, SendDecision, SendLimits, SendReservation, SentMessage,
    SubmissionId, Suppression, Task, ThreadId, VoiceProfile, WorkflowRun,
};
use crate::ports::{
    AcceptedSubmission, AdminStore, Audio, AudioFormat, AuditStore, Calendar, Crm, DraftFilter,
    DraftStore, DraftUpdate, Drive, JobStore, Llm, LlmRequest, LlmResponse, Mailbox, MessageStore,
    NewDraftRecord, OperatorRecord, OperatorStore, OutcomeFilter, OutcomeStore, RunStore,
    SecretStore, SendStore, SequenceStore, SettingsStore, SpeechToText, SubmissionStore,
    TextToSpeech, VoiceStore,
};
use crate::sequences::{Sequence, SequenceFilter};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Implements `$port` for `Layered<P, L>` (each call through the layer, named
/// `"<$name>.<method>"`) and for `Arc<T>` of a sized port (delegating). `Arc<dyn …>` is left
/// out on purpose: with it, every call on a `Dyn…` port anywhere would resolve to the
/// forwarding impl and pay one more boxed future.
macro_rules! layered_port {
    ($port:ident, $name:literal {
        $( fn $m:ident ( $($a:ident : $t:ty),* ) -> $r:ty [ $($k:expr),* ] ; )*
    }) => {
        #[async_trait]
        impl<P: $port, L: Layer> $port for Layered<P, L> {
            $(
                async fn $m(&self, $($a: $t),*) -> Result<$r> {
                    let args = || render_args(&[$(&$k),*]);
                    self.layer
                        .around(concat!($name, ".", stringify!($m)), &args, self.inner.$m($($a),*))
                        .await
                }
            )*
        }

        #[async_trait]
        impl<T: $port> $port for Arc<T> {
            $(
                async fn $m(&self, $($a: $t),*) -> Result<$r> {
                    (**self).$m($($a),*).await
                }
            )*
        }
    };
}

layered_port!(Crm, "crm" {
    fn find_contact_by_email(email: &EmailAddress) -> Option<Contact> [email];
    fn get_contact(id: &CrmId) -> Contact [id];
    fn create_contact(contact: &NewContact) -> Contact [contact.email];
    fn update_contact(id: &CrmId, properties: &BTreeMap<String, String>) -> Contact [id];
    fn find_company_by_domain(domain: &Domain) -> Option<Company> [domain];
    fn get_company(id: &CrmId) -> Company [id];
    fn associate_contact_company(contact: &CrmId, company: &CrmId) -> () [contact, company];
    fn create_task(task: &NewTask) -> Task [task.contact_id];
    fn create_note(note: &NewNote) -> Note [note.contact_id];
    fn tasks_for_contact(contact: &CrmId) -> Vec<Task> [contact];
    fn deal_changes(cursor: Option<&str>) -> DealChangePage [cursor];
    fn erase_contact(email: &EmailAddress) -> () [email];
});

layered_port!(Mailbox, "mailbox" {
    fn search(query: &MailQuery) -> Vec<MailMessage> [query];
    fn get_thread(thread: &ThreadId) -> Vec<MailMessage> [thread];
    fn send(message: &OutgoingMessage) -> SentMessage [message.message_id];
    fn create_draft(message: &OutgoingMessage) -> SentMessage [message.message_id];
    fn send_draft(draft: &SentMessage) -> SentMessage [draft.message_id];
    fn find_sent(message_id: &MessageId) -> Option<SentMessage> [message_id];
    fn history(cursor: Option<&str>) -> HistoryPage [cursor];
    fn sent_messages(page_token: Option<&str>, page_size: u32) -> MessagePage [page_token, page_size];
});

layered_port!(Drive, "drive" {
    fn search(query: &DriveQuery) -> Vec<DriveFile> [query];
    fn get(id: &FileId) -> DriveFile [id];
    fn export_text(id: &FileId, max_bytes: usize) -> String [id, max_bytes];
});

layered_port!(Calendar, "calendar" {
    fn free_busy(range: Interval) -> Vec<Interval> [range];
    fn events(range: Interval) -> Vec<CalendarEvent> [range];
    fn insert_event(event: &NewEvent) -> CalendarEvent [event.interval];
});

layered_port!(Llm, "llm" {
    fn complete(request: &LlmRequest) -> LlmResponse [request.purpose];
});

layered_port!(SpeechToText, "speech" {
    fn transcribe(audio: &Audio) -> String [audio.format];
});

layered_port!(TextToSpeech, "speech" {
    fn synthesize(text: &str, format: AudioFormat) -> Audio [format];
});

layered_port!(SubmissionStore, "store" {
    fn save_submission(submission: &FormSubmission) -> (FormSubmission, bool) [submission.idempotency_key];
    fn get_submission(id: SubmissionId) -> FormSubmission [id];
    fn find_submission(idempotency_key: &str) -> Option<FormSubmission> [idempotency_key];
    fn save_submission_and_enqueue(submission: &FormSubmission, job: &(dyn for<'s> Fn(&'s FormSubmission) -> NewJob + Send + Sync)) -> Option<AcceptedSubmission> [submission.idempotency_key];
});

layered_port!(DraftStore, "store" {
    fn insert_draft(draft: &Draft, event: &DraftEvent) -> () [draft.id];
    fn insert_draft_record(record: &NewDraftRecord<'_>) -> () [record.draft.id];
    fn get_draft(id: DraftId) -> Draft [id];
    fn find_draft_by_submission(id: SubmissionId) -> Option<Draft> [id];
    fn find_draft_by_message_id(id: &MessageId) -> Option<Draft> [id];
    fn list_drafts(filter: &DraftFilter) -> Vec<Draft> [filter];
    fn update_draft(draft: &Draft, expected_version: u32, event: &DraftEvent) -> () [draft.id, expected_version];
    fn update_draft_record(update: &DraftUpdate<'_>) -> () [update.draft.id, update.expected_version];
    fn draft_events(id: DraftId) -> Vec<DraftEvent> [id];
    fn draft_counts() -> BTreeMap<DraftStatus, u64> [];
});

layered_port!(RunStore, "store" {
    fn save_run(run: &WorkflowRun) -> () [run.id];
    fn get_run(id: RunId) -> WorkflowRun [id];
    fn runs_for_submission(id: SubmissionId) -> Vec<WorkflowRun> [id];
});

layered_port!(JobStore, "store" {
    fn enqueue(job: &NewJob) -> (Job, bool) [job.kind, job.idempotency_key];
    fn claim(worker: &str, kinds: &[String], lease: Duration) -> Option<ClaimedJob> [worker, kinds];
    fn claim_batch(worker: &str, kinds: &[String], lease: Duration, max: usize) -> Vec<ClaimedJob> [worker, kinds, max];
    fn heartbeat(lease: &Lease, extend: Duration) -> Lease [lease.job_id];
    fn complete(lease: &Lease) -> () [lease.job_id];
    fn complete_batch(leases: &[Lease]) -> Vec<Result<()>> [leases.len()];
    fn complete_and_claim(done: &[Lease], worker: &str, kinds: &[String], lease: Duration, max: usize) -> (Vec<Result<()>>, Result<Vec<ClaimedJob>>) [done.len(), worker, kinds, max];
    fn fail(lease: &Lease, failure: &JobFailure) -> Job [lease.job_id];
    fn release(lease: &Lease, run_at: DateTime<Utc>) -> Job [lease.job_id, run_at];
    fn wake(idempotency_key: &str, at: DateTime<Utc>) -> Option<Job> [idempotency_key, at];
    fn requeue_dead(id: JobId) -> Job [id];
    fn get_job(id: JobId) -> Job [id];
    fn list_jobs(filter: &JobFilter) -> Vec<Job> [filter];
    fn job_counts() -> BTreeMap<JobState, u64> [];
});

layered_port!(SendStore, "store" {
    fn reserve_send(reservation: &SendReservation, limits: &SendLimits) -> SendDecision [reservation.draft_id];
    fn release_send(draft: DraftId) -> () [draft];
    fn suppress(entry: &Suppression) -> () [entry.email];
    fn unsuppress(email: &EmailAddress) -> bool [email];
    fn suppression(email: &EmailAddress) -> Option<Suppression> [email];
    fn list_suppressions() -> Vec<Suppression> [];
    fn add_approved_recipient(recipient: &ApprovedRecipient) -> () [recipient.email];
    fn remove_approved_recipient(email: &EmailAddress) -> bool [email];
    fn is_approved_recipient(email: &EmailAddress) -> bool [email];
});

layered_port!(MessageStore, "store" {
    fn record_message(message: &MessageRecord) -> () [message.message_id];
    fn find_message(id: &MessageId) -> Option<MessageRecord> [id];
    fn messages_for_contact(email: &EmailAddress) -> Vec<MessageRecord> [email];
});

layered_port!(OutcomeStore, "store" {
    fn record_outcome(outcome: &Outcome) -> bool [outcome.outcome_type, outcome.contact_email];
    fn list_outcomes(filter: &OutcomeFilter) -> Vec<Outcome> [filter];
});

layered_port!(VoiceStore, "store" {
    fn save_voice_profile(profile: &VoiceProfile) -> VoiceProfile [profile.owner, profile.name];
    fn voice_profile(owner: &EmailAddress, name: &str) -> Option<VoiceProfile> [owner, name];
    fn voice_profiles(owner: &EmailAddress) -> Vec<VoiceProfile> [owner];
});

layered_port!(SecretStore, "store" {
    fn save_token(token: &OAuthToken) -> () [token.account];
    fn token(account: &str) -> Option<OAuthToken> [account];
    fn delete_token(account: &str) -> bool [account];
});

layered_port!(SettingsStore, "store" {
    fn setting(key: &str) -> Option<String> [key];
    fn put_setting(key: &str, value: &str) -> () [key];
});

layered_port!(AuditStore, "store" {
    fn append_audit(entry: &NewAuditEntry) -> AuditEntry [entry.action];
    fn audit_entries(after: u64, limit: u32) -> Vec<AuditEntry> [after, limit];
    fn verify_audit_chain() -> AuditVerification [];
});

layered_port!(AdminStore, "store" {
    fn erase_contact(email: &EmailAddress, actor: &str) -> ErasureReport [email, actor];
    fn health() -> () [];
});

layered_port!(OperatorStore, "store" {
    fn add_operator(name: &str, token_hash: &str) -> OperatorRecord [name];
    fn list_operators() -> Vec<OperatorRecord> [];
    fn operator_by_token_hash(token_hash: &str) -> Option<OperatorRecord> [];
    fn revoke_operator(name: &str) -> bool [name];
});

layered_port!(SequenceStore, "store" {
    fn get_sequence(contact: &EmailAddress) -> Option<Sequence> [contact];
    fn save_sequence(sequence: &Sequence, expected_version: Option<u32>, jobs: &[NewJob]) -> () [sequence.contact_email, expected_version];
    fn list_sequences(filter: &SequenceFilter) -> Vec<Sequence> [filter];
});
