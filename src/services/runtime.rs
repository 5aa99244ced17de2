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
use salesagent_core::outcomes::{OutcomeScanConfig, OutcomeScanner, Outcomes};
use salesagent_core::pipeline::{Pipeline, PipelineConfig};
use salesagent_core::ports::{DynClock, DynStore};
use salesagent_core::sending::{AutoApprover, SendPolicy, Sender, SenderConfig, SendingConfig};
use salesagent_core::worker::{Worker, WorkerConfig};
use std::sync::Arc;

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
    Ok(())
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
    let ports = services.ports(store.clone(), clock.clone());
    let pipeline = Arc::new(Pipeline::new(ports, pipeline));
    let mut scanner = OutcomeScanner::new(Outcomes::new(store.clone(), clock.clone()), scans)
        .with_mailbox(services.mailbox.clone())
        .with_crm(services.crm.clone())
        .with_calendar(services.calendar.clone());
    if let Some(llm) = services.real_llm() {
        scanner = scanner.with_llm(llm);
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
        .with_outcome_scans(scanner);
    Ok(Runtime {
        pipeline,
        sender: mailer,
        worker,
    })
}
