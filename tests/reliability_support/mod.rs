//! Shared helpers of the reliability scenarios (`tests/reliability_*.rs`): sizes (reduced by
//! default, full with `SALESAGENT_FULL=1`), figures, stores on both backends, fault-injected
//! fakes, a durable delivery ledger mailbox and a send-job runner.
#![allow(dead_code)]

use async_trait::async_trait;
use salesagent::EmailAddress;
use salesagent::core::model::{
    ClaimedJob, Domain, DraftStatus, HistoryPage, Job, JobFailure, JobFilter, JobState,
    MailMessage, MailQuery, MessageId, MessagePage, OutgoingMessage, ProviderMessageId,
    RetryPolicy, SendLimits, SentMessage, ThreadId, kinds,
};
use salesagent::core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent::core::ports::{
    DraftFilter, DynClock, DynMailbox, DynStore, Llm, LlmRequest, LlmResponse, Mailbox,
};
use salesagent::core::sending::{
    MimeOptions, OperatorQueue, PolicyConfig, SendMode, SendOutcome, SendPolicy, Sender,
    SenderConfig, handle_send_job,
};
use salesagent::core::testing::{
    FakeCalendar, FakeCrm, FakeDrive, FakeMailbox, FaultKind, Faults, SeededRng,
};
use salesagent::core::worker::Worker;
use salesagent::core::writer::TemplateLlm;
use salesagent::core::{Error, Result};
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

/// The template writer behind a fault knob ("llm.complete").
#[derive(Debug, Clone)]
pub struct FlakyLlm {
    /// The fault knob.
    pub faults: Faults,
}

#[async_trait]
impl Llm for FlakyLlm {
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse> {
        self.faults.before_call("llm.complete").await?;
        TemplateLlm.complete(request).await
    }
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

/// Pipeline ports over `store` with the in-memory fakes, each with its own `faults`
/// (seeded from `seed`; `rate` 0 for none). Returns the ports and every fault knob.
pub fn ports(store: DynStore, clock: DynClock, seed: u64, rate: f64) -> (Ports, Vec<Faults>) {
    let f: Vec<Faults> = (0..5).map(|i| flaky(seed * 10 + i, rate)).collect();
    let ports = Ports {
        crm: Arc::new(FakeCrm::with_faults(f[0].clone())),
        mailbox: Arc::new(FakeMailbox::new().with_faults(f[1].clone())),
        drive: Arc::new(FakeDrive::with_faults(f[2].clone())),
        calendar: Arc::new(
            FakeCalendar::new()
                .with_faults(f[3].clone())
                .with_clock(clock.clone()),
        ),
        llm: Arc::new(FlakyLlm {
            faults: f[4].clone(),
        }),
        store,
        clock,
    };
    (ports, f)
}

/// A pipeline over `ports` sending as [`sender_address`].
pub fn pipeline(ports: Ports) -> Arc<Pipeline> {
    Arc::new(Pipeline::new(ports, PipelineConfig::new(sender_address())))
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

/// Claims one send job as `owner` and runs it; `None` when no send job is runnable.
///
/// # Errors
/// Store errors while claiming, completing or failing.
pub async fn run_send_job(
    sender: &Sender,
    store: &DynStore,
    owner: &str,
    lease: Duration,
) -> Result<Option<std::result::Result<SendOutcome, String>>> {
    let Some(ClaimedJob { job, lease }) =
        store.claim(owner, &[kinds::SEND.to_owned()], lease).await?
    else {
        return Ok(None);
    };
    match handle_send_job(sender, &job).await {
        Ok(outcome) => match store.complete(&lease).await {
            Ok(()) | Err(Error::Conflict { .. }) => Ok(Some(Ok(outcome))),
            Err(e) => Err(e),
        },
        Err(e) => match store.fail(&lease, &JobFailure::from_error(&e)).await {
            Ok(_) | Err(Error::Conflict { .. }) => Ok(Some(Err(e.to_string()))),
            Err(e2) => Err(e2),
        },
    }
}

/// A mailbox that records every delivery durably as its own file, so deliveries are counted
/// exactly, even across processes killed at any point: a send is one atomic rename of a new
/// file `sent/<message-id stem>~<uuid>.eml` (it never de-duplicates, as a real provider does
/// not). Sent-mail lookups by Message-ID read the same folder, so reconciliation works.
///
/// Faults: `faults` fail calls before anything is delivered ("mailbox.send", "mailbox.find_sent");
/// `lose_ack` is the share of deliveries that report a timeout *after* the file is written (the
/// classic "did it go out?" case); `latency` is slept before and after the delivery, to widen
/// the window in which a kill lands mid-send.
#[derive(Debug, Clone)]
pub struct LedgerMailbox {
    dir: PathBuf,
    faults: Faults,
    lose_ack: f64,
    latency: Duration,
    rng: Arc<Mutex<SeededRng>>,
}

impl LedgerMailbox {
    /// A ledger in `dir` (created when missing).
    pub fn open(dir: &Path, faults: Faults, lose_ack: f64, latency: Duration, seed: u64) -> Self {
        for sub in ["sent", "drafts", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create ledger dirs");
        }
        Self {
            dir: dir.to_owned(),
            faults,
            lose_ack,
            latency,
            rng: Arc::new(Mutex::new(SeededRng::new(seed))),
        }
    }

    fn stem(id: &MessageId) -> String {
        salesagent::connectors::outbox::file_stem(id)
    }

    fn write(&self, folder: &str, message: &OutgoingMessage) -> Result<ProviderMessageId> {
        let name = format!(
            "{}~{}.eml",
            Self::stem(&message.message_id),
            uuid::Uuid::new_v4().simple()
        );
        let tmp = self.dir.join("tmp").join(&name);
        std::fs::write(&tmp, &message.raw).map_err(|e| Error::backend(e.to_string()))?;
        std::fs::rename(&tmp, self.dir.join(folder).join(&name))
            .map_err(|e| Error::backend(e.to_string()))?;
        Ok(ProviderMessageId::new(name))
    }

    fn find(&self, folder: &str, id: &MessageId) -> Option<String> {
        let prefix = format!("{}~", Self::stem(id));
        std::fs::read_dir(self.dir.join(folder))
            .ok()?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with(&prefix))
    }

    async fn deliver(&self, folder: &str, message: &OutgoingMessage) -> Result<SentMessage> {
        self.faults
            .before_call(&format!("mailbox.{folder}"))
            .await?;
        tokio::time::sleep(self.latency).await;
        let provider_id = self.write(folder, message)?;
        tokio::time::sleep(self.latency).await;
        let lost = self.rng.lock().expect("rng").next_f64() < self.lose_ack;
        if lost {
            return Err(Error::timeout("mailbox.send (acknowledgement lost)"));
        }
        Ok(SentMessage {
            provider_id,
            thread_id: message.thread_id.clone(),
            message_id: message.message_id.clone(),
        })
    }

    /// Deliveries per Message-ID stem in `folder` ("sent" or "drafts").
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
        let Some(id) = &query.message_id else {
            return Ok(Vec::new());
        };
        Ok(["sent", "drafts"]
            .iter()
            .find_map(|f| self.find(f, id))
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
                labels: Vec::new(),
                raw: None,
            })
            .into_iter()
            .collect())
    }

    async fn get_thread(&self, _thread: &ThreadId) -> Result<Vec<MailMessage>> {
        Ok(Vec::new())
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.deliver("sent", message).await
    }

    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.deliver("drafts", message).await
    }

    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        self.faults.before_call("mailbox.find_sent").await?;
        Ok(self.find("sent", message_id).map(|name| SentMessage {
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

/// A sender in real-send mode (no send window) through `mailbox`, with `limits`, fast
/// retries and `grace` before a `Sending` draft counts as abandoned.
pub fn sender(
    store: DynStore,
    mailbox: DynMailbox,
    clock: DynClock,
    limits: SendLimits,
    grace: Duration,
) -> Sender {
    let policy = SendPolicy::new(PolicyConfig {
        mode: SendMode::RealSends,
        limits,
        window: None,
        ignore_window: false,
    });
    let mime = MimeOptions::new(Domain::parse("seller.io").expect("domain"));
    Sender::new(store, mailbox, clock, policy, mime)
        .expect("valid sender")
        .with_config(SenderConfig {
            retry: RetryPolicy {
                base: Duration::from_millis(5),
                max: Duration::from_millis(50),
                jitter: 0.3,
            },
            max_attempts: 3,
            in_flight_grace: grace,
        })
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

/// Runs pipeline and CRM jobs until none is queued or running (waiting out retry backoffs),
/// or `limit` passes.
pub async fn drain_pipeline(worker: &Worker, store: &DynStore, limit: usize) {
    for _ in 0..limit {
        worker.run_until_idle(4).await.expect("worker");
        if open_jobs(store, kinds::PIPELINE).await + open_jobs(store, kinds::CRM_FOLLOW_UP).await
            == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs send jobs with `tasks` concurrent runners until none is queued or running, or
/// `limit` idle polls. Returns the outcomes seen (by kind name) and the attempt errors.
pub async fn drain_sends(
    sender: &Sender,
    store: &DynStore,
    tasks: usize,
    limit: usize,
) -> (BTreeMap<String, u64>, u64) {
    let results = Arc::new(Mutex::new((BTreeMap::<String, u64>::new(), 0u64)));
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let sender = sender.clone();
            let store = store.clone();
            let results = results.clone();
            tokio::spawn(async move {
                let owner = format!("sender-{i}");
                let mut idle = 0;
                while idle < limit {
                    match run_send_job(&sender, &store, &owner, Duration::from_secs(30))
                        .await
                        .expect("send runner")
                    {
                        Some(r) => {
                            let mut g = results.lock().expect("results");
                            match r {
                                Ok(o) => {
                                    let name = serde_json::to_value(&o)
                                        .ok()
                                        .and_then(|v| v["outcome"].as_str().map(str::to_owned))
                                        .unwrap_or_default();
                                    *g.0.entry(name).or_insert(0) += 1;
                                }
                                Err(_) => g.1 += 1,
                            }
                        }
                        None => {
                            if open_jobs(&store, kinds::SEND).await == 0 {
                                return;
                            }
                            idle += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("send task");
    }
    let g = results.lock().expect("results");
    (g.0.clone(), g.1)
}

/// Environment variables that turn a re-executed test binary into a worker process.
pub mod worker_env {
    /// Store URL; its presence makes the ignored entry test act as a worker.
    pub const DB: &str = "SALESAGENT_RELIABILITY_WORKER_DB";
    /// Ledger mailbox directory.
    pub const DIR: &str = "SALESAGENT_RELIABILITY_WORKER_DIR";
    /// Send limits as JSON (default: generous).
    pub const LIMITS: &str = "SALESAGENT_RELIABILITY_WORKER_LIMITS";
    /// Exit after this many consecutive idle polls (default: never).
    pub const IDLE_EXIT: &str = "SALESAGENT_RELIABILITY_WORKER_IDLE_EXIT";
    /// Worker name.
    pub const NAME: &str = "SALESAGENT_RELIABILITY_WORKER_NAME";
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

/// The worker process body: pipeline jobs and send jobs, one at a time, forever (or until
/// idle for the configured number of polls). Does nothing unless [`worker_env::DB`] is set.
///
/// The mailbox is a [`LedgerMailbox`] with 25 ms before and after each delivery, and a marker
/// file `inflight/<pid>` that exists exactly while a delivery call is running, so the parent
/// can tell a kill that landed mid-send.
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
    let idle_exit: Option<u32> = std::env::var(worker_env::IDLE_EXIT)
        .ok()
        .and_then(|s| s.parse().ok());
    let clock: DynClock = Arc::new(salesagent::core::ports::SystemClock);
    let store: DynStore = Arc::new(open_store(&db, clock.clone(), 4).await);
    let (ports, _) = ports(store.clone(), clock.clone(), 3, 0.0);
    let worker = Worker::new(
        pipeline(ports),
        salesagent::core::worker::WorkerConfig {
            name: name.clone(),
            lease: Duration::from_secs(2),
            heartbeat: Duration::from_millis(500),
            poll_interval: Duration::from_millis(50),
        },
    );
    let marker = dir.join("inflight").join(std::process::id().to_string());
    std::fs::create_dir_all(dir.join("inflight")).expect("inflight dir");
    let mailbox = MarkedMailbox {
        inner: LedgerMailbox::open(&dir, Faults::none(), 0.0, Duration::from_millis(25), 1),
        marker,
    };
    let sender = sender(
        store.clone(),
        Arc::new(mailbox),
        clock,
        limits,
        Duration::from_secs(3),
    );
    let mut idle = 0;
    loop {
        let mut busy = false;
        match worker.run_one(&name).await {
            Ok(Some(_)) => busy = true,
            Ok(None) => {}
            Err(e) => eprintln!("{name}: pipeline runner: {e}"),
        }
        match run_send_job(&sender, &store, &name, Duration::from_secs(2)).await {
            Ok(Some(_)) => busy = true,
            Ok(None) => {}
            Err(e) => eprintln!("{name}: send runner: {e}"),
        }
        if busy {
            idle = 0;
        } else {
            idle += 1;
            if idle_exit.is_some_and(|n| idle >= n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A [`LedgerMailbox`] that keeps a marker file while a delivery call runs.
#[derive(Debug, Clone)]
struct MarkedMailbox {
    inner: LedgerMailbox,
    marker: PathBuf,
}

#[async_trait]
impl Mailbox for MarkedMailbox {
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>> {
        self.inner.search(query).await
    }
    async fn get_thread(&self, thread: &ThreadId) -> Result<Vec<MailMessage>> {
        self.inner.get_thread(thread).await
    }
    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        let _ = std::fs::write(&self.marker, message.message_id.as_str());
        let r = self.inner.send(message).await;
        let _ = std::fs::remove_file(&self.marker);
        r
    }
    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.inner.create_draft(message).await
    }
    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        self.inner.find_sent(message_id).await
    }
    async fn history(&self, cursor: Option<&str>) -> Result<HistoryPage> {
        self.inner.history(cursor).await
    }
    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage> {
        self.inner.sent_messages(page_token, page_size).await
    }
}
