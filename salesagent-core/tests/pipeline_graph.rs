//! The pipeline waits exactly where `pipeline::graph::PIPELINE_SCHEDULE` says.
//!
//! Every port takes a different simulated latency on a paused tokio clock, and the pipeline's
//! clock reads that tokio clock, so each step record's start and finish are exact virtual
//! times. Under a paused clock computation takes no time, so a step that waits for a set of
//! steps starts exactly when the last of them finishes: the test checks that equality for every
//! step (no timing tolerance, nothing wall-clock).
#![cfg(feature = "testing")]

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use salesagent_core::layers::FaultInjecting;
use salesagent_core::model::{Domain, EmailAddress, FormSubmission, StepRecord};
use salesagent_core::pipeline::graph::{PIPELINE_SCHEDULE, Step, deps};
use salesagent_core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent_core::ports::{Clock, Llm, LlmRequest, LlmResponse};
use salesagent_core::prompt::PURPOSE_DRAFT;
use salesagent_core::testing::{
    FakeCalendar, FakeCrm, FakeDrive, FakeMailbox, Faults, MemoryStore,
};
use salesagent_core::writer::TemplateLlm;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Wall time derived from the (paused) tokio clock.
#[derive(Debug)]
struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.start.elapsed()).unwrap();
        self.base + elapsed
    }
}

/// The template model behind a per-purpose delay.
#[derive(Debug)]
struct SlowLlm {
    analysis: Duration,
    draft: Duration,
}

#[async_trait]
impl Llm for SlowLlm {
    async fn complete(&self, request: &LlmRequest) -> salesagent_core::Result<LlmResponse> {
        let d = if request.purpose == PURPOSE_DRAFT {
            self.draft
        } else {
            self.analysis
        };
        tokio::time::sleep(d).await;
        TemplateLlm.complete(request).await
    }
}

fn latency(ms: u64) -> Faults {
    Faults::none().with_latency(Duration::from_millis(ms), Duration::ZERO)
}

#[tokio::test(start_paused = true)]
async fn the_pipeline_waits_exactly_where_its_schedule_says() {
    let base = DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let clock = Arc::new(TokioClock {
        base,
        start: tokio::time::Instant::now(),
    });
    const STORE_MS: u64 = 5;
    let crm = FakeCrm::new();
    let mut company = crm.seed_company(
        "Acme Robotics",
        Some(Domain::parse("acme-robotics.de").unwrap()),
    );
    company.industry = Some("Industrial Machinery".into());
    crm.add_company(company);
    let ports = Ports {
        crm: Arc::new(FaultInjecting::new(crm, latency(30))),
        mailbox: Arc::new(FaultInjecting::new(
            FakeMailbox::new().with_clock(clock.clone()),
            latency(50),
        )),
        drive: Arc::new(FaultInjecting::new(FakeDrive::new(), latency(70))),
        calendar: Arc::new(FaultInjecting::new(
            FakeCalendar::new().with_clock(clock.clone()),
            latency(40),
        )),
        llm: Arc::new(SlowLlm {
            analysis: Duration::from_millis(200),
            draft: Duration::from_millis(300),
        }),
        store: Arc::new(FaultInjecting::new(
            MemoryStore::new(clock.clone()),
            latency(STORE_MS),
        )),
        clock: clock.clone(),
    };
    let store = ports.store.clone();
    let pipeline = Pipeline::new(
        ports,
        PipelineConfig::new(EmailAddress::parse("sam@salesagent.dev").unwrap()),
    );
    let doc = serde_json::json!({
        "submission_id": "graph-1",
        "form_id": "demo",
        "submitted_at": "2026-11-26T08:00:00Z",
        "fields": {
            "email": "ann@acme-robotics.de",
            "firstname": "Ann",
            "company": "Acme Robotics",
            "jobtitle": "Head of Operations",
            "message": "We would like a demo of welding automation.",
        }
    });
    let submission = FormSubmission::from_canonical_json(&doc.to_string(), clock.now()).unwrap();
    let t0 = clock.now();
    pipeline.process(&submission).await.unwrap();
    let runs = store.runs_for_submission(submission.id).await.unwrap();
    assert_eq!(runs.len(), 1);
    let records: BTreeMap<Step, &StepRecord> = runs[0]
        .steps
        .iter()
        .map(|r| {
            let step = Step::from_name(&r.name)
                .unwrap_or_else(|| panic!("step record {:?} is not a graph::Step", r.name));
            (step, r)
        })
        .collect();
    // Start and finish of every step; the submission is the store call before the run.
    let mut times: BTreeMap<Step, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    times.insert(
        Step::Submission,
        (t0, t0 + chrono::Duration::milliseconds(STORE_MS as i64)),
    );
    for (step, r) in &records {
        times.insert(*step, (r.started_at, r.finished_at.unwrap()));
    }
    for step in Step::ALL {
        assert!(times.contains_key(&step), "no record of {step:?}");
    }
    for step in Step::ALL.into_iter().skip(1) {
        let waits = deps(PIPELINE_SCHEDULE, step);
        let ready = waits.iter().map(|d| times[d].1).max().unwrap();
        assert_eq!(
            times[&step].0,
            ready,
            "{step:?} starts when the last of {waits:?} finishes (times from t0: {:?})",
            times
                .iter()
                .map(|(s, (a, b))| (
                    s.name(),
                    (*a - t0).num_milliseconds(),
                    (*b - t0).num_milliseconds()
                ))
                .collect::<Vec<_>>()
        );
    }
}
