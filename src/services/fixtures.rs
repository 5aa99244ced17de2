//! Fixture-backed offline connectors: the in-memory implementations of
//! `salesagent_core::offline`, seeded from a directory such as `examples/data/`.
//!
//! Files: `sender.json` (the mailbox owner and their voice), `companies.json`, `contacts.json`
//! (CRM), `threads.json` (earlier mail, dated relative to now), `documents.json` (Drive assets),
//! `calendar.json` (busy blocks relative to today, in the sender's zone), and `forms/*.json`
//! (canonical form submissions).

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use salesagent_core::model::{
    Company, Contact, CrmId, Domain, DriveFile, EmailAddress, FileId, Interval, MailMessage,
    MessageId, ProviderMessageId, VoiceProfile, VoiceProfileId, VoiceStyle,
};
use salesagent_core::offline::{FakeCalendar, FakeCrm, FakeDrive, FakeMailbox};
use salesagent_core::ports::Clock as _;
use salesagent_core::ports::{DynClock, DynStore};
use salesagent_core::slots::parse_zone;
use salesagent_core::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `sender.json`: the mailbox owner and their voice.
#[derive(Debug, Clone, Deserialize)]
pub struct Sender {
    /// The sender's address (drafts go out from it).
    pub email: EmailAddress,
    /// Display name.
    pub name: String,
    /// The sender's company.
    pub company: String,
    /// IANA time zone of the sender's working hours.
    pub time_zone: String,
    /// A voice style to seed as the `default` profile.
    #[serde(default)]
    pub voice: Option<VoiceStyle>,
}

#[derive(Debug, Deserialize)]
struct CompanyFixture {
    crm_id: String,
    name: String,
    domain: Option<Domain>,
    industry: Option<String>,
    employee_count: Option<u32>,
    country: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ContactFixture {
    crm_id: String,
    email: EmailAddress,
    first_name: Option<String>,
    last_name: Option<String>,
    job_title: Option<String>,
    company_id: Option<String>,
    time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ThreadFixture {
    from: EmailAddress,
    to: EmailAddress,
    subject: String,
    body: String,
    days_ago: i64,
}

#[derive(Debug, Deserialize)]
struct DocumentFixture {
    id: String,
    name: String,
    mime_type: String,
    description: Option<String>,
    web_link: Option<String>,
    text: String,
}

#[derive(Debug, Deserialize)]
struct BusyFixture {
    day: i64,
    start: NaiveTime,
    end: NaiveTime,
}

#[derive(Debug, Deserialize)]
struct CalendarFixture {
    time_zone: String,
    busy: Vec<BusyFixture>,
}

fn read<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<T> {
    let path = dir.join(name);
    let bad = |e: &dyn std::fmt::Display| Error::invalid(path.display().to_string(), e.to_string());
    let text = std::fs::read_to_string(&path).map_err(|e| bad(&e))?;
    serde_json::from_str(&text).map_err(|e| bad(&e))
}

/// The sender described by `sender.json`.
pub fn sender(dir: &Path) -> Result<Sender> {
    read(dir, "sender.json")
}

/// The sample forms under `forms/`, sorted by file name.
pub fn forms(dir: &Path) -> Result<Vec<PathBuf>> {
    let forms = dir.join("forms");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&forms)
        .map_err(|e| Error::invalid(forms.display().to_string(), e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    Ok(out)
}

/// A CRM fake seeded with `companies.json` and `contacts.json`.
pub fn crm(dir: &Path) -> Result<FakeCrm> {
    let crm = FakeCrm::new();
    for c in read::<Vec<CompanyFixture>>(dir, "companies.json")? {
        crm.add_company(Company {
            crm_id: CrmId::new(c.crm_id),
            name: c.name,
            domain: c.domain,
            industry: c.industry,
            employee_count: c.employee_count,
            country: c.country,
            description: c.description,
            properties: BTreeMap::new(),
        });
    }
    for c in read::<Vec<ContactFixture>>(dir, "contacts.json")? {
        crm.add_contact(Contact {
            crm_id: CrmId::new(c.crm_id),
            email: c.email,
            first_name: c.first_name,
            last_name: c.last_name,
            job_title: c.job_title,
            phone: None,
            company_id: c.company_id.map(CrmId::new),
            time_zone: c.time_zone,
            properties: BTreeMap::new(),
        });
    }
    Ok(crm)
}

/// A mailbox fake holding the earlier mail of `threads.json`, dated relative to `clock`, and
/// the sender's sent folder: every `.txt`/`.eml` file under `sent/` (one a day going back).
pub fn mailbox(dir: &Path, clock: &DynClock) -> Result<FakeMailbox> {
    let now = clock.now();
    let mailbox = FakeMailbox::new().with_clock(clock.clone());
    let sent_dir = dir.join("sent");
    if sent_dir.is_dir() {
        let owner = sender(dir)?.email;
        let samples = salesagent_core::voice::corpus::read_paths(&[sent_dir])?;
        for (days_ago, m) in (1_i64..).zip(samples) {
            mailbox.deliver(fixture_message(
                &owner,
                None,
                m.subject.unwrap_or_default(),
                m.body,
                now - Duration::days(days_ago),
                "SENT",
            ));
        }
    }
    for t in read::<Vec<ThreadFixture>>(dir, "threads.json")? {
        mailbox.deliver(fixture_message(
            &t.from,
            Some(&t.to),
            t.subject,
            t.body,
            now - Duration::days(t.days_ago),
            "INBOX",
        ));
    }
    Ok(mailbox)
}

/// One fixture message with a fresh Message-ID on the sender's domain.
fn fixture_message(
    from: &EmailAddress,
    to: Option<&EmailAddress>,
    subject: String,
    body: String,
    date: DateTime<Utc>,
    label: &str,
) -> MailMessage {
    let id = MessageId::generate(from.domain());
    let mut headers = vec![("From".to_owned(), from.to_string())];
    if let Some(to) = to {
        headers.push(("To".to_owned(), to.to_string()));
    }
    headers.push(("Subject".to_owned(), subject.clone()));
    headers.push(("Message-ID".to_owned(), id.bracketed()));
    MailMessage {
        provider_id: ProviderMessageId::new(""),
        thread_id: None,
        message_id: Some(id),
        in_reply_to: None,
        references: Vec::new(),
        from: Some(from.clone()),
        to: to.into_iter().cloned().collect(),
        subject,
        date: Some(date),
        body_text: body,
        headers,
        labels: vec![label.to_owned()],
        raw: None,
    }
}

/// A Drive fake holding the documents of `documents.json`.
pub fn drive(dir: &Path) -> Result<FakeDrive> {
    let drive = FakeDrive::new();
    for d in read::<Vec<DocumentFixture>>(dir, "documents.json")? {
        drive.add_file(
            DriveFile {
                id: FileId::new(d.id),
                name: d.name,
                mime_type: d.mime_type,
                web_link: d.web_link,
                description: d.description,
                modified_at: None,
                size: None,
            },
            Some(&d.text),
        );
    }
    Ok(drive)
}

/// A calendar fake with the busy blocks of `calendar.json` (days relative to today in its zone).
pub fn calendar(dir: &Path, clock: &DynClock) -> Result<FakeCalendar> {
    let now = clock.now();
    let calendar = FakeCalendar::new().with_clock(clock.clone());
    let cal: CalendarFixture = read(dir, "calendar.json")?;
    let zone = parse_zone(&cal.time_zone).ok_or_else(|| {
        Error::invalid(
            "calendar.json",
            format!("unknown time zone {:?}", cal.time_zone),
        )
    })?;
    let today = now.with_timezone(&zone).date_naive();
    for b in cal.busy {
        let day = today + Duration::days(b.day);
        let local = |t: NaiveTime| -> Option<DateTime<Utc>> {
            zone.from_local_datetime(&day.and_time(t))
                .earliest()
                .map(|d| d.with_timezone(&Utc))
        };
        if let (Some(start), Some(end)) = (local(b.start), local(b.end)) {
            calendar.add_busy(Interval { start, end });
        }
    }
    Ok(calendar)
}

/// Saves the sender's voice profile from `sender.json` unless the store already has one.
pub async fn seed_voice(store: &DynStore, sender: &Sender, now: DateTime<Utc>) -> Result<()> {
    let Some(style) = sender.voice.clone() else {
        return Ok(());
    };
    let existing = store.voice_profile(&sender.email, "default").await?;
    if existing.is_none() {
        store
            .save_voice_profile(&VoiceProfile {
                id: VoiceProfileId::new(),
                owner: sender.email.clone(),
                name: "default".to_owned(),
                version: 0,
                message_count: 0,
                updated_at: now,
                style,
            })
            .await?;
    }
    Ok(())
}
