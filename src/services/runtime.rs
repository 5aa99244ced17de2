//! The worker a host runs: every job kind the library creates, over the selected services.
//!
//! Both hosts (`examples/webhook` and `cli work` / `cli send`) build their [`Worker`] here, so
//! the loop runs the same way everywhere: pipeline jobs write drafts; auto-approval (when
//! enabled) approves what the rules allow; send jobs take approved drafts through the
//! exactly-once [`Sender`] under the send policy (mode, window, limits, suppression, kill switch);
//! the outcome scans (mailbox replies and bounces, CRM deals, calendar, silence) run as recurring
//! jobs, one per source across all workers ([`ensure_jobs`] enqueues them).

use super::Services;
use salesagent_core::Result;
use salesagent_core::model::{Job, kinds};
use salesagent_core::outcomes::{OutcomeConfig, OutcomeScanConfig, OutcomeScanner, Outcomes};
use salesagent_core::pipeline::{Pipeline, PipelineConfig};
use salesagent_core::ports::{DynClock, DynStore};
use salesagent_core::sending::{AutoApprover, SendPolicy, Sender, SenderConfig, SendingConfig};
use salesagent_core::worker::{JobDone, JobHandler, Worker, WorkerConfig};
use std::sync::{Arc, RwLock};

/// What a host's worker is made of.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The pipeline (form → draft).
    pub pipeline: Arc<Pipeline>,
    /// The sender (approved draft → mailbox).
    pub sender: Sender,
    /// The worker running every job kind.
    pub worker: Worker,
}

/// Enqueues the recurring jobs a host's workers run (one outcome scan per source; idempotent).
///
/// # Errors
/// Store errors.
pub async fn ensure_jobs(store: &DynStore) -> Result<()> {
    salesagent_core::outcomes::ensure_outcome_scans(store.as_ref()).await?;
    // Follow-up sequences: sent first e-mails enrol their contacts (the default sequence
    // unless a configuration was stored, see `salesagent_core::sequences::activate`).
    if salesagent_core::sequences::active_config(store.as_ref())
        .await?
        .is_none()
    {
        let default = salesagent_core::sequences::SequenceConfig::default();
        salesagent_core::sequences::activate(store.as_ref(), &default).await?;
    }
    Ok(())
}

/// Stores `config` as the running follow-up sequence (what sent first e-mails enrol their
/// contacts in from now on; contacts already enrolled keep the steps they started with), so the
/// settings file, not an earlier run, decides. Hosts call it at start-up after [`ensure_jobs`].
///
/// # Errors
/// `InvalidInput` when the configuration is invalid; store errors.
pub async fn activate_sequences(
    store: &DynStore,
    config: &salesagent_core::sequences::SequenceConfig,
) -> Result<()> {
    config.validate()?;
    salesagent_core::sequences::activate(store.as_ref(), config).await
}

/// Builds the pipeline (with `pipeline`'s settings), the sender, the outcome scanner (default
/// intervals) and the worker over `services` (use [`Services::use_mailbox`] first to pick the
/// mailbox), sending with `sending`'s policy, rendering and auto-approval rules.
///
/// # Errors
/// `InvalidInput` when the sending settings are invalid (MIME options, window).
pub fn build(
    services: &Services,
    store: DynStore,
    clock: DynClock,
    pipeline: PipelineConfig,
    sending: &SendingConfig,
    config: WorkerConfig,
) -> Result<Runtime> {
    build_with_scans(
        services,
        store,
        clock,
        pipeline,
        sending,
        OutcomeScanConfig::default(),
        config,
    )
}

/// [`build`] with the outcome scans' intervals from `scans`.
///
/// # Errors
/// `InvalidInput` when the sending settings are invalid (MIME options, window).
pub fn build_with_scans(
    services: &Services,
    store: DynStore,
    clock: DynClock,
    pipeline: PipelineConfig,
    sending: &SendingConfig,
    scans: OutcomeScanConfig,
    config: WorkerConfig,
) -> Result<Runtime> {
    build_configured(
        services,
        store,
        clock,
        &RuntimeConfig {
            pipeline,
            sending: sending.clone(),
            scans,
            outcomes: OutcomeConfig::default(),
            sequences: salesagent_core::sequences::SequenceConfig::default(),
        },
        config,
    )
}

/// Everything a host's worker runtime is configured with (usually
/// [`Settings::runtime_config`](crate::settings::Settings::runtime_config)).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The pipeline (sender identity, slot and ICP rules).
    pub pipeline: PipelineConfig,
    /// Send policy, MIME options, auto-approval rules.
    pub sending: SendingConfig,
    /// Outcome scan intervals.
    pub scans: OutcomeScanConfig,
    /// The outcomes service (impacts).
    pub outcomes: OutcomeConfig,
    /// The follow-up sequence (its fallback time zone; [`activate_sequences`] stores the steps).
    pub sequences: salesagent_core::sequences::SequenceConfig,
}

/// [`build`] from a [`RuntimeConfig`] (outcome impacts included).
///
/// # Errors
/// `InvalidInput` when the sending settings are invalid (MIME options, window).
pub fn build_configured(
    services: &Services,
    store: DynStore,
    clock: DynClock,
    runtime: &RuntimeConfig,
    config: WorkerConfig,
) -> Result<Runtime> {
    let sending = &runtime.sending;
    let ports = services.ports(store.clone(), clock.clone());
    let pipeline = Arc::new(Pipeline::new(ports, runtime.pipeline.clone()));
    let outcomes = Outcomes::with_config(store.clone(), clock.clone(), runtime.outcomes.clone());
    let mut scanner = OutcomeScanner::new(outcomes, runtime.scans)
        .with_mailbox(services.mailbox.clone())
        .with_crm(services.crm.clone())
        .with_calendar(services.calendar.clone());
    if let Some(llm) = services.real_llm() {
        scanner = scanner.with_llm(llm);
    }
    // The follow-up sequences' step jobs (the steps come from the stored configuration).
    let mut sequences = salesagent_core::sequences::Sequences::new(
        store.clone(),
        clock.clone(),
        runtime.sequences.clone(),
    )
    .with_crm(services.crm.clone())
    .with_mailbox(services.mailbox.clone())
    .with_auto_approval(sending.rules.enabled);
    if let Some(llm) = services.real_llm() {
        sequences = sequences.with_llm(llm);
    }
    let mailer = Sender::new(
        store,
        services.mailbox.clone(),
        clock,
        SendPolicy::new(sending.policy.clone()),
        sending.mime.clone(),
    )?
    .with_crm(services.crm.clone())
    .with_config(SenderConfig {
        holder: config.name.clone(),
        ..SenderConfig::default()
    });
    let approver = AutoApprover::new(sending.rules).with_crm(services.crm.clone());
    let worker = Worker::new(pipeline.clone(), config)
        .with_sender(mailer.clone())
        .with_auto_approval(approver)
        .with_outcome_scans(scanner)
        .register(sequences);
    Ok(Runtime {
        pipeline,
        sender: mailer,
        worker,
    })
}

/// A worker whose handlers are rebuilt from new settings while it runs (settings reload):
/// each job is run by the handlers current when it starts, so a reload changes the next draft's
/// ICP score, the limits and window of the next send attempt, the auto-approval rules and the
/// outcome impacts, without a restart and without cutting a running job short.
#[derive(Debug, Clone)]
pub struct LiveRuntime {
    current: Arc<RwLock<Runtime>>,
    services: Services,
    store: DynStore,
    clock: DynClock,
    worker: WorkerConfig,
    observers: Observers,
}

/// What else is told of a replaced configuration (e.g. the host's operator routes).
type Observer = Box<dyn Fn(&RuntimeConfig) + Send + Sync>;

#[derive(Clone, Default)]
struct Observers(Arc<std::sync::Mutex<Vec<Observer>>>);

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |v| v.len());
        write!(f, "Observers({n})")
    }
}

impl LiveRuntime {
    /// Builds the runtime from `runtime` and the worker to run (claiming every kind the
    /// runtime handles, and auto-approval jobs, which do nothing while the rules are off).
    ///
    /// # Errors
    /// As [`build_configured`].
    pub fn build(
        services: &Services,
        store: DynStore,
        clock: DynClock,
        runtime: &RuntimeConfig,
        worker: WorkerConfig,
    ) -> Result<(Self, Worker)> {
        let first = build_configured(
            services,
            store.clone(),
            clock.clone(),
            runtime,
            worker.clone(),
        )?;
        let mut kinds = first.worker.kinds();
        if !kinds.iter().any(|k| k == kinds::AUTO_APPROVE) {
            kinds.push(kinds::AUTO_APPROVE.to_owned());
        }
        let current = Arc::new(RwLock::new(first));
        let mut outer = Worker::empty(store.clone(), clock.clone(), worker.clone());
        for kind in kinds {
            outer = outer.register(Delegate {
                kind,
                current: current.clone(),
            });
        }
        Ok((
            Self {
                current,
                services: services.clone(),
                store,
                clock,
                worker,
                observers: Observers::default(),
            },
            outer,
        ))
    }

    /// Rebuilds the handlers from `runtime`; jobs started from now on use them.
    ///
    /// # Errors
    /// As [`build_configured`]; the running handlers stay.
    pub fn replace(&self, runtime: &RuntimeConfig) -> Result<()> {
        let next = build_configured(
            &self.services,
            self.store.clone(),
            self.clock.clone(),
            runtime,
            self.worker.clone(),
        )?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        for observer in self
            .observers
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            observer(runtime);
        }
        Ok(())
    }

    /// Calls `observer` with every configuration [`LiveRuntime::replace`] puts in place, so
    /// parts outside the worker follow a reload (the webhook host's operator routes take the
    /// new outcome impacts this way).
    pub fn on_replace(&self, observer: impl Fn(&RuntimeConfig) + Send + Sync + 'static) {
        self.observers
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Box::new(observer));
    }

    /// The runtime jobs are run with now.
    #[must_use]
    pub fn current(&self) -> Runtime {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Runs one kind with the handler of the current runtime.
#[derive(Debug)]
struct Delegate {
    kind: String,
    current: Arc<RwLock<Runtime>>,
}

#[async_trait::async_trait]
impl JobHandler for Delegate {
    fn kind(&self) -> &str {
        &self.kind
    }

    async fn run(&self, job: &Job) -> Result<JobDone> {
        let handler = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .worker
            .handler(&self.kind);
        match handler {
            Some(h) => h.run(job).await,
            // Auto-approval was switched off by a reload: the draft waits for an operator.
            None if self.kind == kinds::AUTO_APPROVE => Ok(JobDone::Complete),
            None => Err(salesagent_core::Error::unsupported(format!(
                "job kind {:?}",
                self.kind
            ))),
        }
    }
}
