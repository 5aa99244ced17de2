//! Soak (`cargo bench --bench soak`), printing `RESULT <name> <value> <unit>`: `SOAK_JOBS`
//! (default 100,000) form submissions through the durable job queue and the pipeline, on a
//! SQLite file with in-process workers and zero-latency fakes, while the process's resident set
//! size (`VmRSS`) is sampled every 250 ms. A store, queue or pipeline that keeps something per
//! job shows up as RSS growing with the number of jobs; the figures are RSS at start, after
//! enqueueing, at the peak of the drain and at the end, and the drain rate.
//!
//! The CRM is a stateless stand-in (contacts and companies derived from the address, writes
//! acknowledged and dropped): the core fakes record everything written to them, which would
//! be their growth, not salesagent's. Every submission is its own draft. Linux only (reads
//! `/proc/self/status`).

use async_trait::async_trait;
use salesagent_core::Result;
use salesagent_core::model::{
    Company, Contact, CrmId, DealChangePage, Domain, EmailAddress, FormSubmission, NewContact,
    NewNote, NewTask, Note, Task, TaskStatus,
};
use salesagent_core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent_core::ports::Crm;
use salesagent_core::ports::{Clock, DynClock, DynStore, SystemClock};
use salesagent_core::testing::{FakeCalendar, FakeDrive, FakeMailbox};
use salesagent_core::worker::{Worker, WorkerConfig};
use salesagent_core::writer::TemplateLlm;
use salesagent_store::SqlStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Resident set size in KiB, from `/proc/self/status`.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn submission(i: usize, clock: &DynClock) -> FormSubmission {
    let doc = serde_json::json!({
        "submission_id": format!("soak-{i}"),
        "form_id": "demo",
        "submitted_at": "2026-11-26T08:00:00Z",
        "fields": {
            "email": format!("lead{i}@company{}.example", i % 50),
            "firstname": "Alex",
            "company": format!("Company {}", i % 50),
            "jobtitle": "Head of Operations",
            "message": "We would like a demo and pricing for fleet automation this quarter.",
        }
    });
    FormSubmission::from_canonical_json(&doc.to_string(), clock.now()).expect("valid form")
}

/// A CRM that keeps nothing: every contact is derived from its address (its id is the address),
/// every company from its domain, and writes are acknowledged and dropped.
#[derive(Debug)]
struct StatelessCrm;

fn contact(email: EmailAddress) -> Contact {
    Contact {
        crm_id: CrmId::new(email.to_string()),
        email,
        first_name: Some("Alex".to_owned()),
        last_name: None,
        job_title: Some("Head of Operations".to_owned()),
        phone: None,
        company_id: None,
        time_zone: None,
        properties: BTreeMap::new(),
    }
}

fn company(domain: &Domain) -> Company {
    Company {
        crm_id: CrmId::new(domain.to_string()),
        name: domain.to_string(),
        domain: Some(domain.clone()),
        industry: Some("Logistics".to_owned()),
        employee_count: Some(120),
        country: Some("Germany".to_owned()),
        description: None,
        properties: BTreeMap::new(),
    }
}

#[async_trait]
impl Crm for StatelessCrm {
    async fn find_contact_by_email(&self, email: &EmailAddress) -> Result<Option<Contact>> {
        Ok(Some(contact(email.clone())))
    }
    async fn get_contact(&self, id: &CrmId) -> Result<Contact> {
        Ok(contact(EmailAddress::parse(id.as_str())?))
    }
    async fn create_contact(&self, new: &NewContact) -> Result<Contact> {
        let email = new
            .email
            .clone()
            .ok_or_else(|| salesagent_core::Error::invalid("email", "required"))?;
        Ok(contact(email))
    }
    async fn update_contact(&self, id: &CrmId, _: &BTreeMap<String, String>) -> Result<Contact> {
        self.get_contact(id).await
    }
    async fn find_company_by_domain(&self, domain: &Domain) -> Result<Option<Company>> {
        Ok(Some(company(domain)))
    }
    async fn get_company(&self, id: &CrmId) -> Result<Company> {
        Ok(company(&Domain::parse(id.as_str())?))
    }
    async fn associate_contact_company(&self, _: &CrmId, _: &CrmId) -> Result<()> {
        Ok(())
    }
    async fn create_task(&self, task: &NewTask) -> Result<Task> {
        Ok(Task {
            crm_id: CrmId::new("task"),
            subject: task.subject.clone(),
            body: String::new(),
            status: TaskStatus::NotStarted,
            due_at: task.due_at,
            completed_at: None,
            contact_id: task.contact_id.clone(),
        })
    }
    async fn create_note(&self, note: &NewNote) -> Result<Note> {
        Ok(Note {
            crm_id: CrmId::new("note"),
            body: String::new(),
            at: note.at,
            contact_id: note.contact_id.clone(),
        })
    }
    async fn tasks_for_contact(&self, _: &CrmId) -> Result<Vec<Task>> {
        Ok(Vec::new())
    }
    async fn deal_changes(&self, _: Option<&str>) -> Result<DealChangePage> {
        Ok(DealChangePage {
            deals: Vec::new(),
            next_cursor: None,
        })
    }
}

fn pipeline(store: DynStore, clock: DynClock) -> Arc<Pipeline> {
    let ports = Ports {
        crm: Arc::new(StatelessCrm),
        mailbox: Arc::new(FakeMailbox::new().with_clock(clock.clone())),
        drive: Arc::new(FakeDrive::new()),
        calendar: Arc::new(FakeCalendar::new().with_clock(clock.clone())),
        llm: Arc::new(TemplateLlm),
        store,
        clock,
    };
    let sender = EmailAddress::parse("sam@salesagent.dev").expect("address");
    Arc::new(Pipeline::new(ports, PipelineConfig::new(sender)))
}

fn main() {
    let jobs: usize = std::env::var("SOAK_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("salesagent-soak-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("soak.db").display());
        let clock: DynClock = Arc::new(SystemClock);
        let store: DynStore = Arc::new(
            SqlStore::builder(url)
                .without_encryption()
                .clock(clock.clone())
                .connect()
                .await
                .expect("store"),
        );
        let pipeline = pipeline(store, clock.clone());
        let start = rss_kib();

        for i in 0..jobs {
            pipeline
                .submit(&submission(i, &clock))
                .await
                .expect("submit");
        }
        let enqueued = rss_kib();

        let peak = Arc::new(AtomicU64::new(enqueued));
        let sampler = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_kib(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        };
        let t0 = Instant::now();
        let stats = Worker::new(pipeline, WorkerConfig::default())
            .run_until_idle(4)
            .await
            .expect("workers");
        let secs = t0.elapsed().as_secs_f64();
        sampler.abort();
        let end = rss_kib();
        assert_eq!(stats.dead, 0, "{stats:?}");
        // Each submission is a pipeline job and a CRM follow-up job.
        assert_eq!(stats.done, 2 * jobs as u64, "{stats:?}");

        println!("RESULT soak.jobs {} jobs", stats.done);
        println!("RESULT soak.rss_start {:.1} MiB", start as f64 / 1024.0);
        println!(
            "RESULT soak.rss_after_enqueue {:.1} MiB",
            enqueued as f64 / 1024.0
        );
        println!(
            "RESULT soak.rss_peak {:.1} MiB",
            peak.load(Ordering::Relaxed) as f64 / 1024.0
        );
        println!("RESULT soak.rss_end {:.1} MiB", end as f64 / 1024.0);
        println!(
            "RESULT soak.drain_rate {:.0} jobs/s",
            stats.done as f64 / secs
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
}
