//! Shared helpers of the reliability scenarios (`tests/reliability_*.rs`): sizes (reduced by
//! default, full with `SALESAGENT_FULL=1`), figures, stores on both backends, fault-injected
//! fakes, a durable delivery ledger mailbox, and the host's worker.
//!
//! Every job of every scenario (pipeline, CRM follow-up, send) is run by the shipped
//! [`Worker`], built the way the hosts build it ([`salesagent::services::runtime::build`]); there
//! is no test-only job runner.
#![allow(dead_code)]

use async_trait::async_trait;
use salesagent::EmailAddress;
use salesagent::core::layers::FaultInjecting;
use salesagent::core::model::{
    Domain, DraftStatus, HistoryPage, Job, JobFilter, JobState, MailMessage, MailQuery, MessageId,
    MessagePage, OutgoingMessage, ProviderMessageId, RetryPolicy, SendLimits, SentMessage,
    ThreadId,
};
use salesagent::core::pipeline::PipelineConfig;
use salesagent::core::ports::{Clock as _, DraftFilter, DynClock, DynMailbox, DynStore, Mailbox};
use salesagent::core::sending::{
    OperatorQueue, PolicyConfig, SendMode, SenderConfig, SendingConfig,
};
use salesagent::core::testing::{
    FakeCalendar, FakeCrm, FakeDrive, FakeMailbox, FaultKind, Faults, SeededRng,
};
use salesagent::core::worker::{WorkStats, Worker, WorkerConfig};
use salesagent::core::writer::TemplateLlm;
use salesagent::core::{Error, Result};
use salesagent::services::runtime::{self, Runtime};
use salesagent::services::{RealConnectors, Services};
use salesagent::store::testing::TempPostgres;
use salesagent::store::{EncryptionKey, SqlStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// True when the full-size scenarios were asked for (`SALESAGENT_FULL=1`).
pub fn full() -> bool {
    std::env::var("SALESAGENT_FULL").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `reduced` by default, `full` with `SALESAGENT_FULL=1`.
pub fn size(reduced: usize, full_size: usize) -> usize {
    if full() { full_size } else { reduced }
}

/// Prints one measured figure as `FIGURE <name> <value>`.
pub fn figure(name: &str, value: impl std::fmt::Display) {
    println!("FIGURE {name} {value}");
}

/// URL of a fresh PostgreSQL database, or `None` with a notice when no server can be had.
/// When the binaries exist, failing to start one fails the test: it is never skipped.
pub async fn pg_url() -> Option<String> {
    TempPostgres::fresh_database_or_skip().await
}

/// A scratch directory under the target directory, unique per call.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "reliability-{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// URL of a fresh SQLite file database.
pub fn sqlite_url() -> String {
    let d = scratch_dir("sqlite");
    format!("sqlite://{}?mode=rwc", d.join("store.db").display())
}

/// The backends of a scenario: SQLite (file) and PostgreSQL when available.
pub async fn backends() -> Vec<(&'static str, String)> {
    let mut v = vec![("sqlite", sqlite_url())];
    if let Some(u) = pg_url().await {
        v.push(("postgres", u));
    }
    v
}

/// Fast retries, so failing jobs come back within milliseconds instead of seconds.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(10),
        max: Duration::from_millis(200),
        jitter: 0.3,
    }
}

/// Opens `url` with a test encryption key, fast retries and `clock`.
pub async fn open_store(url: &str, clock: DynClock, connections: u32) -> SqlStore {
    SqlStore::builder(url)
        .encryption_key(EncryptionKey::from_bytes([7; 32]))
        .retry_policy(fast_retry())
        .max_connections(connections)
        .clock(clock)
        .connect()
        .await
        .expect("connect store")
}

/// The sales rep every scenario sends as.
pub fn sender_address() -> EmailAddress {
    EmailAddress::parse("rep@seller.io").expect("valid address")
}

/// Fault knobs failing `rate` of all calls, spread over rate limits (with Retry-After),
/// unavailability and timeouts.
pub fn flaky(seed: u64, rate: f64) -> Faults {
    Faults::seeded(seed)
        .with_failure_rate(
            FaultKind::RateLimited {
                retry_after: Some(Duration::from_millis(20)),
            },
            rate / 3.0,
        )
        .with_failure_rate(FaultKind::Unavailable, rate / 3.0)
        .with_failure_rate(FaultKind::Timeout, rate / 3.0)
}

/// The services a host would select, here the in-memory fakes (CRM, drive, calendar, LLM),
/// each with its own fault knob (seeded from `seed`; `rate` 0 for none), and `mailbox` as the
/// sender's mailbox. Returns them and the four fault knobs (the mailbox brings its own).
pub fn services(
    mailbox: DynMailbox,
    clock: DynClock,
    seed: u64,
    rate: f64,
) -> (Services, Vec<Faults>) {
    let f: Vec<Faults> = (0..4).map(|i| flaky(seed * 10 + i, rate)).collect();
    let services = Services {
        crm: Arc::new(FaultInjecting::new(FakeCrm::new(), f[0].clone())),
        mailbox,
        drive: Arc::new(FaultInjecting::new(FakeDrive::new(), f[1].clone())),
        calendar: Arc::new(FaultInjecting::new(
            FakeCalendar::new().with_clock(clock),
            f[2].clone(),
        )),
        // The template writer behind a fault knob ("llm.complete").
        llm: Arc::new(FaultInjecting::new(TemplateLlm, f[3].clone())),
        choices: Vec::new(),
        real: RealConnectors::default(),
    };
    (services, f)
}

/// An in-memory mailbox (for scenarios that send nothing) with `faults`.
pub fn fake_mailbox(faults: Faults) -> DynMailbox {
    Arc::new(FaultInjecting::new(FakeMailbox::new(), faults))
}

/// How long the sender's claims and waits last in a scenario. The host's defaults are minutes
/// (a claim far longer than any provider call, Gmail's search lag); a scenario shortens them
/// to seconds so that taken-over and unconfirmed sends finish within the run. Everything else
/// is the host's sender.
#[derive(Debug, Clone, Copy)]
pub struct SendTiming {
    /// [`SenderConfig::claim_lease`].
    pub claim_lease: Duration,
    /// [`SenderConfig::search_lag`]: must be at least the mailbox's own search lag.
    pub search_lag: Duration,
}

/// The host's worker over `services`: [`runtime::build`] with real sends (no send window,
/// `limits`), Message-IDs on `seller.io`, auto-approval off, sending as [`sender_address`],
/// and the sender's claim lease and search-lag bound from `timing`. The worker runs every job
/// kind the library creates, sends included.
pub fn host_runtime(
    services: &Services,
    store: DynStore,
    clock: DynClock,
    limits: SendLimits,
    timing: SendTiming,
    worker: WorkerConfig,
) -> Runtime {
    let mut sending = SendingConfig::new(Domain::parse("seller.io").expect("domain"));
    sending.policy = PolicyConfig {
        mode: SendMode::RealSends,
        limits,
        window: None,
        ignore_window: false,
    };
    let mut rt = runtime::build(
        services,
        store,
        clock,
        PipelineConfig::new(sender_address()),
        &sending,
        worker,
    )
    .expect("the host's runtime");
    let config = SenderConfig {
        claim_lease: timing.claim_lease,
        search_lag: timing.search_lag,
        kill_switch_recheck: Duration::from_secs(1),
        ..rt.sender.config().clone()
    };
    rt.sender = rt.sender.clone().with_config(config);
    // Replaces the send handler `build` registered by one with the shortened timing.
    rt.worker = rt.worker.clone().with_sender(rt.sender.clone());
    rt
}

/// Limits that never bind (for scenarios about faults, not volume).
pub fn generous_limits() -> SendLimits {
    SendLimits {
        per_contact_week: 1_000,
        per_contact_day: 1_000,
        per_sender_day: 1_000_000,
        per_domain_day: 1_000_000,
    }
}

/// The canonical JSON of submission `key` from `email`.
pub fn form_json(key: &str, email: &str) -> String {
    serde_json::json!({
        "submission_id": key,
        "form_id": "contact-sales",
        "submitted_at": "2026-11-25T09:12:00Z",
        "page_url": "https://example.com/pricing",
        "fields": {
            "email": email,
            "firstname": "Ann",
            "company": "Acme",
            "message": "We want to automate our inbound lead follow-up."
        }
    })
    .to_string()
}

/// Job counts by state, with zeros for the missing states.
pub async fn job_counts(store: &DynStore) -> BTreeMap<JobState, u64> {
    let mut c = store.job_counts().await.expect("job counts");
    for s in JobState::ALL {
        c.entry(s).or_insert(0);
    }
    c
}

/// Jobs of `kind` in `state`.
pub async fn jobs_in(store: &DynStore, kind: &str, state: JobState) -> Vec<Job> {
    store
        .list_jobs(&JobFilter {
            state: Some(state),
            kind: Some(kind.to_owned()),
            limit: 1_000_000,
        })
        .await
        .expect("list jobs")
}

/// Jobs of `kind` that are still queued or running.
pub async fn open_jobs(store: &DynStore, kind: &str) -> usize {
    jobs_in(store, kind, JobState::Queued).await.len()
        + jobs_in(store, kind, JobState::Running).await.len()
}

/// Jobs of `kind` that are running or due (queued with a run time not later than `slack`
/// from now): what a worker still has to do before the queue only holds work for later.
pub async fn due_jobs(store: &DynStore, clock: &DynClock, kind: &str, slack: Duration) -> usize {
    let horizon = clock.now() + chrono::TimeDelta::from_std(slack).expect("slack");
    jobs_in(store, kind, JobState::Running).await.len()
        + jobs_in(store, kind, JobState::Queued)
            .await
            .iter()
            .filter(|j| j.run_at <= horizon)
            .count()
}

/// Drafts in `status`.
pub async fn drafts_in(store: &DynStore, status: DraftStatus) -> Vec<salesagent::Draft> {
    store
        .list_drafts(&DraftFilter {
            status: Some(status),
            ..DraftFilter::default()
        })
        .await
        .expect("list drafts")
}

/// Approves every pending draft as an operator (each approval enqueues its send job).
pub async fn approve_all(store: &DynStore, clock: DynClock) -> usize {
    let queue = OperatorQueue::new(store.clone(), clock);
    let pending = drafts_in(store, DraftStatus::Pending).await;
    for d in &pending {
        queue
            .approve(d.id, d.version, "operator@seller.io")
            .await
            .expect("approve");
    }
    pending.len()
}

/// Runs `worker` (4 tasks) until no job of `kinds` is queued or running (waiting out retry
/// backoffs and "not now" run times), or `limit` rounds pass. Returns the summed stats.
pub async fn drain(worker: &Worker, store: &DynStore, kinds: &[&str], limit: usize) -> WorkStats {
    let mut total = WorkStats::default();
    for _ in 0..limit {
        let s = worker.run_until_idle(4).await.expect("worker");
        total.done += s.done;
        total.deferred += s.deferred;
        total.retrying += s.retrying;
        total.dead += s.dead;
        total.lease_lost += s.lease_lost;
        total.released += s.released;
        let mut open = 0;
        for k in kinds {
            open += open_jobs(store, k).await;
        }
        if open == 0 {
            return total;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    total
}

/// How often each sender step appears in the drafts' event logs (`take_over`,
/// `await_confirmation`, `release_claim`, …), and how many sends were confirmed by a Message-ID
/// lookup instead of the provider's answer (`reconciled`, from the audit log).
pub async fn send_path(store: &DynStore) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let drafts = store
        .list_drafts(&DraftFilter::default())
        .await
        .expect("list drafts");
    for d in drafts {
        for e in store.draft_events(d.id).await.expect("draft events") {
            let name = e.action.name();
            if matches!(
                name,
                "take_over" | "await_confirmation" | "release_claim" | "mark_failed"
            ) {
                *out.entry(name.to_owned()).or_insert(0) += 1;
            }
        }
    }
    let mut after = 0;
    loop {
        let page = store.audit_entries(after, 1_000).await.expect("audit");
        let Some(last) = page.last() else { break };
        after = last.seq;
        for a in &page {
            if a.action == "draft.sent" && a.details["reconciled"] == true {
                *out.entry("reconciled".to_owned()).or_insert(0) += 1;
            }
        }
    }
    out
}

/// A mailbox that records every delivery durably as its own file, so deliveries are counted
/// exactly, even across processes killed at any point. It behaves like Gmail where it matters:
///
/// - `create_draft` stores `drafts/<message-id stem>~<uuid>.eml` (every call a new draft);
/// - `send_draft` delivers a draft by one atomic rename to
///   `sent/<stem>~<uuid>~<sent at, ms>.eml`, so one draft is delivered at most once and a draft
///   that is gone is `NotFound`;
/// - `send` (not used by the sender, which sends drafts) delivers a new file every call: it
///   never de-duplicates;
/// - `find_sent` and `search` by Message-ID see a sent message only `search_lag` after it was
///   sent (Gmail's search is not documented as read-after-write consistent).
///
/// Each delivery is a single rename, so a process killed during a call delivers completely or
/// not at all, as a remote provider would.
///
/// Faults: `faults` fail calls before anything is done ("mailbox.create_draft",
/// "mailbox.send_draft", "mailbox.send", "mailbox.find_sent", "mailbox.search"); `lose_ack` is
/// the share of `create_draft`, `send_draft` and `send` calls that report a timeout *after*
/// their work is done (the classic "did it go out?" case); `latency` is slept before and after
/// the work, to widen the window in which a kill lands mid-send; with markers, a file exists
/// exactly while a `send_draft` or `send` call runs, so a parent can tell a kill mid-send.
#[derive(Debug, Clone)]
pub struct LedgerMailbox {
    dir: PathBuf,
    faults: Faults,
    lose_ack: f64,
    latency: Duration,
    search_lag: Duration,
    clock: DynClock,
    marker: Option<PathBuf>,
    draft_sending: bool,
    rng: Arc<Mutex<SeededRng>>,
}

impl LedgerMailbox {
    /// A ledger in `dir` (created when missing) with `faults`, and no lost acknowledgements,
    /// latency, search lag or marker yet.
    pub fn open(dir: &Path, faults: Faults, seed: u64) -> Self {
        for sub in ["sent", "drafts", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create ledger dirs");
        }
        Self {
            dir: dir.to_owned(),
            faults,
            lose_ack: 0.0,
            latency: Duration::ZERO,
            search_lag: Duration::ZERO,
            clock: Arc::new(salesagent::core::ports::SystemClock),
            marker: None,
            draft_sending: true,
            rng: Arc::new(Mutex::new(SeededRng::new(seed))),
        }
    }

    /// Loses the acknowledgement of `share` of the calls that change the mailbox.
    #[must_use]
    pub fn with_lost_acks(mut self, share: f64) -> Self {
        self.lose_ack = share;
        self
    }

    /// Sleeps `latency` before and after the work of each call that changes the mailbox.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sent messages become findable `lag` after they were sent, by `clock`.
    #[must_use]
    pub fn with_search_lag(mut self, lag: Duration, clock: DynClock) -> Self {
        self.search_lag = lag;
        self.clock = clock;
        self
    }

    /// Answers `send_draft` with `Unsupported`, as a mailbox without draft sending does (the
    /// trait's default): the sender then sends with `send` and reconciles by Message-ID.
    #[must_use]
    pub fn without_draft_sending(mut self) -> Self {
        self.draft_sending = false;
        self
    }

    /// Keeps a file in the directory `markers` while a `send_draft` or `send` call runs (one
    /// per call, so concurrent calls are told apart).
    #[must_use]
    pub fn with_markers(mut self, markers: PathBuf) -> Self {
        std::fs::create_dir_all(&markers).expect("marker dir");
        self.marker = Some(markers);
        self
    }

    fn stem(id: &MessageId) -> String {
        salesagent::connectors::outbox::file_stem(id)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    fn io(e: &std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::not_found(e.to_string())
        } else {
            Error::backend(e.to_string())
        }
    }

    fn lost_ack(&self) -> bool {
        self.rng.lock().expect("rng").next_f64() < self.lose_ack
    }

    fn mark(&self, id: &MessageId) -> Option<PathBuf> {
        let m = self.marker.as_ref()?.join(format!(
            "{}~{}",
            Self::stem(id),
            uuid::Uuid::new_v4().simple()
        ));
        let _ = std::fs::write(&m, id.as_str());
        Some(m)
    }

    fn unmark(marker: Option<PathBuf>) {
        if let Some(m) = marker {
            let _ = std::fs::remove_file(m);
        }
    }

    /// Writes `raw` as `folder/<name>.eml` in one rename.
    fn write(&self, folder: &str, name: &str, raw: &[u8]) -> Result<()> {
        let tmp = self.dir.join("tmp").join(format!("{name}.eml"));
        std::fs::write(&tmp, raw).map_err(|e| Self::io(&e))?;
        std::fs::rename(&tmp, self.dir.join(folder).join(format!("{name}.eml")))
            .map_err(|e| Self::io(&e))
    }

    /// The sent message with this Message-ID that search can see now, if any.
    fn find_sent_now(&self, id: &MessageId) -> Option<String> {
        let prefix = format!("{}~", Self::stem(id));
        let lag = i64::try_from(self.search_lag.as_millis()).unwrap_or(i64::MAX);
        let now = self.now_ms();
        std::fs::read_dir(self.dir.join("sent"))
            .ok()?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_suffix(".eml")
                    .map(str::to_owned)
            })
            .find(|n| {
                n.starts_with(&prefix)
                    && n.rsplit_once('~')
                        .and_then(|(_, at)| at.parse::<i64>().ok())
                        .is_some_and(|at| at.saturating_add(lag) <= now)
            })
    }

    async fn pause(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    async fn send_draft_marked(&self, draft: &SentMessage) -> Result<SentMessage> {
        self.pause().await;
        let id = draft.provider_id.as_str();
        if id.contains(['/', '\\']) || id.starts_with('.') {
            return Err(Error::not_found(format!("mailbox draft {id}")));
        }
        let sent_name = format!("{id}~{}", self.now_ms());
        std::fs::rename(
            self.dir.join("drafts").join(format!("{id}.eml")),
            self.dir.join("sent").join(format!("{sent_name}.eml")),
        )
        .map_err(|e| Self::io(&e))?;
        self.pause().await;
        if self.lost_ack() {
            return Err(Error::timeout("mailbox.send_draft (acknowledgement lost)"));
        }
        Ok(SentMessage {
            provider_id: ProviderMessageId::new(sent_name),
            thread_id: draft.thread_id.clone(),
            message_id: draft.message_id.clone(),
        })
    }

    async fn send_marked(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.pause().await;
        let name = format!(
            "{}~{}~{}",
            Self::stem(&message.message_id),
            uuid::Uuid::new_v4().simple(),
            self.now_ms()
        );
        self.write("sent", &name, &message.raw)?;
        self.pause().await;
        if self.lost_ack() {
            return Err(Error::timeout("mailbox.send (acknowledgement lost)"));
        }
        Ok(SentMessage {
            provider_id: ProviderMessageId::new(name),
            thread_id: message.thread_id.clone(),
            message_id: message.message_id.clone(),
        })
    }

    /// Deliveries per Message-ID stem in `dir`'s `folder` ("sent" or "drafts").
    pub fn deliveries(dir: &Path, folder: &str) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(dir.join(folder))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some((stem, _)) = name.split_once('~') {
                *out.entry(stem.to_owned()).or_insert(0) += 1;
            }
        }
        out
    }

    /// The stem a Message-ID is counted under in [`LedgerMailbox::deliveries`].
    pub fn key(id: &MessageId) -> String {
        Self::stem(id)
    }
}

#[async_trait]
impl Mailbox for LedgerMailbox {
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>> {
        self.faults.before_call("mailbox.search").await?;
        let Some(id) = &query.message_id else {
            return Ok(Vec::new());
        };
        Ok(self
            .find_sent_now(id)
            .map(|name| MailMessage {
                provider_id: ProviderMessageId::new(name),
                thread_id: None,
                message_id: Some(id.clone()),
                in_reply_to: None,
                references: Vec::new(),
                from: None,
                to: Vec::new(),
                subject: String::new(),
                date: None,
                body_text: String::new(),
                headers: Vec::new(),
                labels: vec!["SENT".to_owned()],
                raw: None,
            })
            .into_iter()
            .collect())
    }

    async fn get_thread(&self, _thread: &ThreadId) -> Result<Vec<MailMessage>> {
        Ok(Vec::new())
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.faults.before_call("mailbox.send").await?;
        let marker = self.mark(&message.message_id);
        let r = self.send_marked(message).await;
        Self::unmark(marker);
        r
    }

    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.faults.before_call("mailbox.create_draft").await?;
        if message.to.is_empty() {
            return Err(Error::invalid("to", "needs at least one recipient"));
        }
        let name = format!(
            "{}~{}",
            Self::stem(&message.message_id),
            uuid::Uuid::new_v4().simple()
        );
        self.write("drafts", &name, &message.raw)?;
        if self.lost_ack() {
            return Err(Error::timeout(
                "mailbox.create_draft (acknowledgement lost)",
            ));
        }
        Ok(SentMessage {
            provider_id: ProviderMessageId::new(name),
            thread_id: message.thread_id.clone(),
            message_id: message.message_id.clone(),
        })
    }

    async fn send_draft(&self, draft: &SentMessage) -> Result<SentMessage> {
        if !self.draft_sending {
            return Err(Error::unsupported("sending a mailbox draft"));
        }
        self.faults.before_call("mailbox.send_draft").await?;
        let marker = self.mark(&draft.message_id);
        let r = self.send_draft_marked(draft).await;
        Self::unmark(marker);
        r
    }

    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        self.faults.before_call("mailbox.find_sent").await?;
        Ok(self.find_sent_now(message_id).map(|name| SentMessage {
            provider_id: ProviderMessageId::new(name),
            thread_id: None,
            message_id: message_id.clone(),
        }))
    }

    async fn history(&self, _cursor: Option<&str>) -> Result<HistoryPage> {
        Ok(HistoryPage::default())
    }

    async fn sent_messages(
        &self,
        _page_token: Option<&str>,
        _page_size: u32,
    ) -> Result<MessagePage> {
        Ok(MessagePage::default())
    }
}

/// The ledger's search lag in the worker processes: sent mail is findable 4 s after it left.
pub const PROCESS_SEARCH_LAG: Duration = Duration::from_secs(4);

/// The sender timing in the worker processes: claims lapse after 2 s (so a killed holder's
/// draft is taken over within the run), and "not sent" is never concluded from a search
/// younger than 5 s (over the ledger's 4 s).
pub const PROCESS_TIMING: SendTiming = SendTiming {
    claim_lease: Duration::from_secs(2),
    search_lag: Duration::from_secs(5),
};

/// Environment variables that turn a re-executed test binary into a worker process.
pub mod worker_env {
    /// Store URL; its presence makes the ignored entry test act as a worker.
    pub const DB: &str = "SALESAGENT_RELIABILITY_WORKER_DB";
    /// Ledger mailbox directory.
    pub const DIR: &str = "SALESAGENT_RELIABILITY_WORKER_DIR";
    /// Send limits as JSON (default: generous).
    pub const LIMITS: &str = "SALESAGENT_RELIABILITY_WORKER_LIMITS";
    /// Worker name.
    pub const NAME: &str = "SALESAGENT_RELIABILITY_WORKER_NAME";
    /// Set (to anything) for a ledger without draft sending
    /// ([`LedgerMailbox::without_draft_sending`](super::LedgerMailbox::without_draft_sending)).
    pub const NO_DRAFT_SENDING: &str = "SALESAGENT_RELIABILITY_WORKER_NO_DRAFT_SENDING";
}

/// The file whose presence tells every worker process of `dir` to shut down gracefully.
pub fn stop_file(dir: &Path) -> PathBuf {
    dir.join("stop")
}

/// Starts this test binary again as a worker process running the ignored test `entry`.
pub fn spawn_worker(
    entry: &str,
    name: &str,
    db: &str,
    dir: &Path,
    extra: &[(&str, String)],
) -> std::process::Child {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        entry,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(worker_env::DB, db)
    .env(worker_env::DIR, dir)
    .env(worker_env::NAME, name)
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn worker process")
}

/// Where worker process `pid` keeps one file per send call in progress.
pub fn in_flight_dir(dir: &Path, pid: u32) -> PathBuf {
    dir.join("inflight").join(pid.to_string())
}

/// The worker process body: the host's worker ([`host_runtime`]) running every job kind with
/// 2 tasks, as `examples/webhook` runs it, until [`stop_file`] appears (then it shuts down the
/// way a host does on SIGTERM) or the process is killed. Does nothing unless
/// [`worker_env::DB`] is set.
///
/// The mailbox is a [`LedgerMailbox`] in [`worker_env::DIR`] with 25 ms before and after each
/// delivery, the search lag [`PROCESS_SEARCH_LAG`], and a marker file per send call in
/// [`in_flight_dir`] while it runs, so the parent can tell a kill that landed mid-send; it sends
/// mailbox drafts unless [`worker_env::NO_DRAFT_SENDING`] is set.
pub async fn worker_process_main() {
    let Ok(db) = std::env::var(worker_env::DB) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(worker_env::DIR).expect("worker dir"));
    let name = std::env::var(worker_env::NAME).unwrap_or_else(|_| "worker".to_owned());
    let limits: SendLimits = std::env::var(worker_env::LIMITS)
        .ok()
        .map_or_else(generous_limits, |s| {
            serde_json::from_str(&s).expect("limits")
        });
    let clock: DynClock = Arc::new(salesagent::core::ports::SystemClock);
    let store: DynStore = Arc::new(open_store(&db, clock.clone(), 4).await);
    let mailbox = LedgerMailbox::open(&dir, Faults::none(), u64::from(std::process::id()))
        .with_latency(Duration::from_millis(25))
        .with_search_lag(PROCESS_SEARCH_LAG, clock.clone())
        .with_markers(in_flight_dir(&dir, std::process::id()));
    let mailbox = if std::env::var_os(worker_env::NO_DRAFT_SENDING).is_some() {
        mailbox.without_draft_sending()
    } else {
        mailbox
    };
    let (services, _) = services(Arc::new(mailbox), clock.clone(), 3, 0.0);
    let rt = host_runtime(
        &services,
        store,
        clock,
        limits,
        PROCESS_TIMING,
        WorkerConfig {
            name: name.clone(),
            lease: Duration::from_secs(3),
            heartbeat: Duration::from_millis(500),
            poll_interval: Duration::from_millis(50),
            shutdown_grace: Duration::from_secs(5),
            ..WorkerConfig::default()
        },
    );
    let stop = stop_file(&dir);
    let stats = rt
        .worker
        .run(2, async move {
            while !stop.exists() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
    eprintln!("{name}: stopped: {stats:?}");
}
