//! Plugging in your own CRM: a complete [`Crm`] for a CRM kept in CSV files (the spreadsheet
//! export many small sales teams live in), and a pipeline that runs with it.
//!
//! ```bash
//! cargo run --example custom_crm -- [DIR]     # DIR default: a fresh temporary directory
//! ```
//!
//! What an integrator writes is everything above `run_demo`: one type implementing the ten
//! methods of the [`Crm`] port, mapping its system's failures onto [`Error`] by what the caller
//! should do (`NotFound`, `Conflict`, `InvalidInput`, `Backend`). `tests/custom_crm.rs` runs the
//! same conformance suite against it that the in-memory fake and the HubSpot connector pass
//! (`salesagent_core::testing::conformance::crm::run`).
//!
//! The directory holds one file per record type, each with a header row:
//!
//! | file | columns |
//! |---|---|
//! | `contacts.csv` | `id,email,first_name,last_name,job_title,phone,company_id,time_zone,properties` |
//! | `companies.csv` | `id,name,domain,industry,employee_count,country,description,properties` |
//! | `tasks.csv` | `id,subject,body,status,due_at,completed_at,contact_id,company_id` |
//! | `notes.csv` | `id,body,at,contact_id,company_id` |
//! | `deals.csv` | `id,name,pipeline,stage,stage_order,closed,contact_ids,created_at,updated_at` |
//!
//! Empty cells are "unknown"; times are RFC 3339; `properties` is a JSON object of strings;
//! `contact_ids` is `;`-separated. Missing files are empty tables. Companies and deals are
//! maintained by people in the spreadsheet (the port never creates them); contacts, tasks and
//! notes are written by salesagent. Every write replaces one file atomically (write, then
//! rename), under one lock, so the files are never half-written.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use salesagent::core::model::{
    Company, Contact, CrmId, DealChange, DealChangePage, DealClosed, Domain, Draft, EmailAddress,
    FormSubmission, NewContact, NewNote, NewTask, Note, Task, TaskStatus,
};
use salesagent::core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent::core::ports::{Clock as _, Crm, DraftStore as _, SystemClock};
use salesagent::core::testing::{FakeCalendar, FakeDrive, FakeMailbox, MemoryStore};
use salesagent::core::worker::{Worker, WorkerConfig};
use salesagent::core::writer::TemplateLlm;
use salesagent::core::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::Mutex;

const CONTACTS: &str = "contacts.csv";
const COMPANIES: &str = "companies.csv";
const TASKS: &str = "tasks.csv";
const NOTES: &str = "notes.csv";
const DEALS: &str = "deals.csv";

const CONTACT_COLUMNS: [&str; 9] = [
    "id",
    "email",
    "first_name",
    "last_name",
    "job_title",
    "phone",
    "company_id",
    "time_zone",
    "properties",
];
const COMPANY_COLUMNS: [&str; 8] = [
    "id",
    "name",
    "domain",
    "industry",
    "employee_count",
    "country",
    "description",
    "properties",
];
const TASK_COLUMNS: [&str; 8] = [
    "id",
    "subject",
    "body",
    "status",
    "due_at",
    "completed_at",
    "contact_id",
    "company_id",
];
const NOTE_COLUMNS: [&str; 5] = ["id", "body", "at", "contact_id", "company_id"];
const DEAL_COLUMNS: [&str; 9] = [
    "id",
    "name",
    "pipeline",
    "stage",
    "stage_order",
    "closed",
    "contact_ids",
    "created_at",
    "updated_at",
];

/// Most deals one `deal_changes` call returns; the cursor continues from there.
const DEAL_PAGE: usize = 100;

/// A CRM kept in CSV files in one directory. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct CsvCrm {
    dir: PathBuf,
    tables: Mutex<Tables>,
}

/// Everything in the files, loaded once at open.
#[derive(Debug, Clone, Default)]
struct Tables {
    contacts: Vec<Contact>,
    companies: Vec<Company>,
    tasks: Vec<TaskRow>,
    notes: Vec<NoteRow>,
    deals: Vec<DealChange>,
    /// Next numeric id suffix, above every id in every file.
    next_id: u64,
}

/// A task and the company it is associated with (the core `Task` has no company field).
#[derive(Debug, Clone)]
struct TaskRow {
    task: Task,
    company_id: Option<CrmId>,
}

/// A note and the company it is associated with.
#[derive(Debug, Clone)]
struct NoteRow {
    note: Note,
    company_id: Option<CrmId>,
}

impl CsvCrm {
    /// Opens the CRM in `dir` (created when missing) and loads every file.
    ///
    /// # Errors
    /// `Unavailable` when the directory or a file cannot be read; `Backend` naming the file,
    /// line and column when a file is malformed (wrong header, bad e-mail, bad time, …).
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_error(&dir, &e))?;
        let mut tables = Tables {
            contacts: load(&dir, CONTACTS, &CONTACT_COLUMNS, contact_from).await?,
            companies: load(&dir, COMPANIES, &COMPANY_COLUMNS, company_from).await?,
            tasks: load(&dir, TASKS, &TASK_COLUMNS, task_from).await?,
            notes: load(&dir, NOTES, &NOTE_COLUMNS, note_from).await?,
            deals: load(&dir, DEALS, &DEAL_COLUMNS, deal_from).await?,
            next_id: 1,
        };
        let ids = tables
            .contacts
            .iter()
            .map(|c| &c.crm_id)
            .chain(tables.companies.iter().map(|c| &c.crm_id))
            .chain(tables.tasks.iter().map(|t| &t.task.crm_id))
            .chain(tables.notes.iter().map(|n| &n.note.crm_id))
            .chain(tables.deals.iter().map(|d| &d.deal_id));
        tables.next_id = ids.filter_map(numeric_suffix).max().unwrap_or(0) + 1;
        Ok(Self {
            dir,
            tables: Mutex::new(tables),
        })
    }

    /// The directory the files live in.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `records` as `file`, atomically: a reader sees the old or the new file.
    async fn save(&self, file: &str, columns: &[&str], records: Vec<Vec<String>>) -> Result<()> {
        let mut text = csv_line(columns.iter().map(|c| (*c).to_owned()));
        for r in records {
            text.push_str(&csv_line(r));
        }
        let path = self.dir.join(file);
        let tmp = self.dir.join(format!("{file}.tmp"));
        tokio::fs::write(&tmp, text)
            .await
            .map_err(|e| io_error(&tmp, &e))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| io_error(&path, &e))
    }
}

#[async_trait]
impl Crm for CsvCrm {
    async fn find_contact_by_email(&self, email: &EmailAddress) -> Result<Option<Contact>> {
        let t = self.tables.lock().await;
        let wanted = email.normalized();
        Ok(t.contacts
            .iter()
            .find(|c| c.email.normalized() == wanted)
            .cloned())
    }

    async fn create_contact(&self, contact: &NewContact) -> Result<Contact> {
        let email = contact
            .email
            .clone()
            .ok_or_else(|| Error::invalid("email", "is required"))?;
        let mut t = self.tables.lock().await;
        if t.contacts
            .iter()
            .any(|c| c.email.normalized() == email.normalized())
        {
            return Err(Error::conflict(format!(
                "a contact with the address {email} exists"
            )));
        }
        let mut properties = contact.properties.clone();
        if let Some(company) = contact.company_name.as_deref().and_then(non_empty) {
            properties
                .entry("company".to_owned())
                .or_insert_with(|| company.to_owned());
        }
        let created = Contact {
            crm_id: CrmId::new(format!("contact-{}", t.next_id)),
            email,
            first_name: contact.first_name.clone(),
            last_name: contact.last_name.clone(),
            job_title: contact.job_title.clone(),
            phone: contact.phone.clone(),
            company_id: None,
            time_zone: None,
            properties,
        };
        let mut contacts = t.contacts.clone();
        contacts.push(created.clone());
        self.save(
            CONTACTS,
            &CONTACT_COLUMNS,
            contacts.iter().map(contact_record).collect(),
        )
        .await?;
        t.contacts = contacts;
        t.next_id += 1;
        Ok(created)
    }

    async fn update_contact(
        &self,
        id: &CrmId,
        properties: &BTreeMap<String, String>,
    ) -> Result<Contact> {
        let mut t = self.tables.lock().await;
        let mut contacts = t.contacts.clone();
        let contact = contacts
            .iter_mut()
            .find(|c| &c.crm_id == id)
            .ok_or_else(|| Error::not_found(format!("contact {id}")))?;
        contact
            .properties
            .extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        let updated = contact.clone();
        self.save(
            CONTACTS,
            &CONTACT_COLUMNS,
            contacts.iter().map(contact_record).collect(),
        )
        .await?;
        t.contacts = contacts;
        Ok(updated)
    }

    async fn find_company_by_domain(&self, domain: &Domain) -> Result<Option<Company>> {
        let t = self.tables.lock().await;
        // Exact domain first, then the company of the base domain (`mail.acme.com` → `acme.com`).
        Ok(Company::matching_domain(&t.companies, domain).cloned())
    }

    async fn get_company(&self, id: &CrmId) -> Result<Company> {
        let t = self.tables.lock().await;
        t.companies
            .iter()
            .find(|c| &c.crm_id == id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("company {id}")))
    }

    async fn associate_contact_company(&self, contact: &CrmId, company: &CrmId) -> Result<()> {
        let mut t = self.tables.lock().await;
        if !t.companies.iter().any(|c| &c.crm_id == company) {
            return Err(Error::not_found(format!("company {company}")));
        }
        let mut contacts = t.contacts.clone();
        let row = contacts
            .iter_mut()
            .find(|c| &c.crm_id == contact)
            .ok_or_else(|| Error::not_found(format!("contact {contact}")))?;
        if row.company_id.as_ref() == Some(company) {
            return Ok(());
        }
        row.company_id = Some(company.clone());
        self.save(
            CONTACTS,
            &CONTACT_COLUMNS,
            contacts.iter().map(contact_record).collect(),
        )
        .await?;
        t.contacts = contacts;
        Ok(())
    }

    async fn create_task(&self, task: &NewTask) -> Result<Task> {
        if task.subject.trim().is_empty() {
            return Err(Error::invalid("subject", "is empty"));
        }
        let mut t = self.tables.lock().await;
        t.check_links(task.contact_id.as_ref(), task.company_id.as_ref())?;
        let created = Task {
            crm_id: CrmId::new(format!("task-{}", t.next_id)),
            subject: task.subject.clone(),
            body: task.body.clone(),
            status: TaskStatus::NotStarted,
            due_at: task.due_at,
            completed_at: None,
            contact_id: task.contact_id.clone(),
        };
        let mut tasks = t.tasks.clone();
        tasks.push(TaskRow {
            task: created.clone(),
            company_id: task.company_id.clone(),
        });
        self.save(
            TASKS,
            &TASK_COLUMNS,
            tasks.iter().map(task_record).collect(),
        )
        .await?;
        t.tasks = tasks;
        t.next_id += 1;
        Ok(created)
    }

    async fn create_note(&self, note: &NewNote) -> Result<Note> {
        let mut t = self.tables.lock().await;
        t.check_links(note.contact_id.as_ref(), note.company_id.as_ref())?;
        let created = Note {
            crm_id: CrmId::new(format!("note-{}", t.next_id)),
            body: note.body.clone(),
            at: note.at,
            contact_id: note.contact_id.clone(),
        };
        let mut notes = t.notes.clone();
        notes.push(NoteRow {
            note: created.clone(),
            company_id: note.company_id.clone(),
        });
        self.save(
            NOTES,
            &NOTE_COLUMNS,
            notes.iter().map(note_record).collect(),
        )
        .await?;
        t.notes = notes;
        t.next_id += 1;
        Ok(created)
    }

    async fn tasks_for_contact(&self, contact: &CrmId) -> Result<Vec<Task>> {
        let t = self.tables.lock().await;
        Ok(t.tasks
            .iter()
            .filter(|r| r.task.contact_id.as_ref() == Some(contact))
            .map(|r| r.task.clone())
            .collect())
    }

    async fn deal_changes(&self, cursor: Option<&str>) -> Result<DealChangePage> {
        // The cursor is the (updated_at, id) of the last deal returned: deals edited in the
        // spreadsheet since then sort after it.
        let after = cursor.map(parse_cursor).transpose()?;
        let t = self.tables.lock().await;
        let mut deals: Vec<&DealChange> = t
            .deals
            .iter()
            .filter(|d| {
                after
                    .as_ref()
                    .is_none_or(|(at, id)| (d.updated_at, d.deal_id.as_str()) > (*at, id.as_str()))
            })
            .collect();
        deals.sort_by(|a, b| {
            (a.updated_at, a.deal_id.as_str()).cmp(&(b.updated_at, b.deal_id.as_str()))
        });
        deals.truncate(DEAL_PAGE);
        let next_cursor = match deals.last() {
            Some(last) => Some(format!("{}|{}", time_cell(last.updated_at), last.deal_id)),
            None => cursor.map(str::to_owned),
        };
        Ok(DealChangePage {
            deals: deals.into_iter().cloned().collect(),
            next_cursor,
        })
    }
}

impl Tables {
    /// A task or note may only name records that exist: `NotFound` otherwise.
    fn check_links(&self, contact: Option<&CrmId>, company: Option<&CrmId>) -> Result<()> {
        if let Some(id) = contact
            && !self.contacts.iter().any(|c| &c.crm_id == id)
        {
            return Err(Error::not_found(format!("contact {id}")));
        }
        if let Some(id) = company
            && !self.companies.iter().any(|c| &c.crm_id == id)
        {
            return Err(Error::not_found(format!("company {id}")));
        }
        Ok(())
    }
}

fn parse_cursor(cursor: &str) -> Result<(DateTime<Utc>, String)> {
    let bad = || Error::invalid("cursor", "is not a cursor this CRM returned");
    let (at, id) = cursor.split_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?;
    Ok((at.with_timezone(&Utc), id.to_owned()))
}

fn numeric_suffix(id: &CrmId) -> Option<u64> {
    let s = id.as_str();
    let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    s[s.len() - digits..].parse().ok()
}

fn non_empty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::unavailable(format!("{}: {e}", path.display()))
}

// ---- rows <-> records ----------------------------------------------------------------------

/// One parsed row, with where it came from for error messages.
struct Row<'a> {
    file: &'a str,
    line: usize,
    columns: &'a [&'a str],
    cells: Vec<String>,
}

impl Row<'_> {
    fn bad(&self, column: &str, why: impl std::fmt::Display) -> Error {
        Error::backend(format!(
            "{} line {}, column {column}: {why}",
            self.file, self.line
        ))
    }

    /// The cell of `column`, `None` when empty.
    fn opt(&self, column: &str) -> Option<String> {
        let i = self.columns.iter().position(|c| *c == column)?;
        non_empty(&self.cells[i]).map(str::to_owned)
    }

    fn req(&self, column: &str) -> Result<String> {
        self.opt(column).ok_or_else(|| self.bad(column, "is empty"))
    }

    fn id(&self, column: &str) -> Result<CrmId> {
        self.req(column).map(CrmId::new)
    }

    fn opt_id(&self, column: &str) -> Option<CrmId> {
        self.opt(column).map(CrmId::new)
    }

    fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>> {
        self.opt(column)
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| self.bad(column, e))
            })
            .transpose()
    }

    fn req_time(&self, column: &str) -> Result<DateTime<Utc>> {
        self.time(column)?
            .ok_or_else(|| self.bad(column, "is empty"))
    }

    fn number(&self, column: &str) -> Result<Option<u32>> {
        self.opt(column)
            .map(|s| s.parse().map_err(|e| self.bad(column, e)))
            .transpose()
    }

    fn properties(&self) -> Result<BTreeMap<String, String>> {
        self.opt("properties")
            .map(|s| serde_json::from_str(&s).map_err(|e| self.bad("properties", e)))
            .transpose()
            .map(Option::unwrap_or_default)
    }
}

fn time_cell(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn cell<T: ToString>(v: Option<&T>) -> String {
    v.map(ToString::to_string).unwrap_or_default()
}

fn properties_cell(p: &BTreeMap<String, String>) -> String {
    if p.is_empty() {
        String::new()
    } else {
        serde_json::to_string(p).unwrap_or_default()
    }
}

fn contact_from(r: &Row<'_>) -> Result<Contact> {
    let email = r.req("email")?;
    Ok(Contact {
        crm_id: r.id("id")?,
        email: EmailAddress::parse(&email).map_err(|e| r.bad("email", e))?,
        first_name: r.opt("first_name"),
        last_name: r.opt("last_name"),
        job_title: r.opt("job_title"),
        phone: r.opt("phone"),
        company_id: r.opt_id("company_id"),
        time_zone: r.opt("time_zone"),
        properties: r.properties()?,
    })
}

fn contact_record(c: &Contact) -> Vec<String> {
    vec![
        c.crm_id.to_string(),
        c.email.to_string(),
        cell(c.first_name.as_ref()),
        cell(c.last_name.as_ref()),
        cell(c.job_title.as_ref()),
        cell(c.phone.as_ref()),
        cell(c.company_id.as_ref()),
        cell(c.time_zone.as_ref()),
        properties_cell(&c.properties),
    ]
}

fn company_from(r: &Row<'_>) -> Result<Company> {
    let domain = r
        .opt("domain")
        .map(|d| Domain::parse(&d).map_err(|e| r.bad("domain", e)))
        .transpose()?;
    Ok(Company {
        crm_id: r.id("id")?,
        name: r.req("name")?,
        domain,
        industry: r.opt("industry"),
        employee_count: r.number("employee_count")?,
        country: r.opt("country"),
        description: r.opt("description"),
        properties: r.properties()?,
    })
}

fn task_status(s: &str) -> Option<TaskStatus> {
    Some(match s {
        "not_started" => TaskStatus::NotStarted,
        "in_progress" => TaskStatus::InProgress,
        "waiting" => TaskStatus::Waiting,
        "completed" => TaskStatus::Completed,
        "deferred" => TaskStatus::Deferred,
        _ => return None,
    })
}

fn task_status_cell(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::NotStarted => "not_started",
        TaskStatus::InProgress => "in_progress",
        TaskStatus::Waiting => "waiting",
        TaskStatus::Completed => "completed",
        TaskStatus::Deferred => "deferred",
    }
}

fn task_from(r: &Row<'_>) -> Result<TaskRow> {
    let status = r.req("status")?;
    Ok(TaskRow {
        task: Task {
            crm_id: r.id("id")?,
            subject: r.req("subject")?,
            body: r.opt("body").unwrap_or_default(),
            status: task_status(&status).ok_or_else(|| r.bad("status", "unknown status"))?,
            due_at: r.time("due_at")?,
            completed_at: r.time("completed_at")?,
            contact_id: r.opt_id("contact_id"),
        },
        company_id: r.opt_id("company_id"),
    })
}

fn task_record(t: &TaskRow) -> Vec<String> {
    vec![
        t.task.crm_id.to_string(),
        t.task.subject.clone(),
        t.task.body.clone(),
        task_status_cell(t.task.status).to_owned(),
        t.task.due_at.map(time_cell).unwrap_or_default(),
        t.task.completed_at.map(time_cell).unwrap_or_default(),
        cell(t.task.contact_id.as_ref()),
        cell(t.company_id.as_ref()),
    ]
}

fn note_from(r: &Row<'_>) -> Result<NoteRow> {
    Ok(NoteRow {
        note: Note {
            crm_id: r.id("id")?,
            body: r.opt("body").unwrap_or_default(),
            at: r.req_time("at")?,
            contact_id: r.opt_id("contact_id"),
        },
        company_id: r.opt_id("company_id"),
    })
}

fn note_record(n: &NoteRow) -> Vec<String> {
    vec![
        n.note.crm_id.to_string(),
        n.note.body.clone(),
        time_cell(n.note.at),
        cell(n.note.contact_id.as_ref()),
        cell(n.company_id.as_ref()),
    ]
}

fn deal_from(r: &Row<'_>) -> Result<DealChange> {
    let closed = match r.opt("closed").as_deref() {
        None => None,
        Some("won") => Some(DealClosed::Won),
        Some("lost") => Some(DealClosed::Lost),
        Some(other) => return Err(r.bad("closed", format!("{other:?} is not won or lost"))),
    };
    Ok(DealChange {
        deal_id: r.id("id")?,
        name: r.req("name")?,
        pipeline: r.opt("pipeline").unwrap_or_else(|| "default".to_owned()),
        stage: r.req("stage")?,
        stage_order: r.number("stage_order")?,
        closed,
        contact_ids: r
            .opt("contact_ids")
            .unwrap_or_default()
            .split(';')
            .filter_map(non_empty)
            .map(CrmId::new)
            .collect(),
        created_at: r.req_time("created_at")?,
        updated_at: r.req_time("updated_at")?,
    })
}

/// Reads `file` from `dir` (missing: no rows), checks its header and parses every row.
async fn load<T>(
    dir: &Path,
    file: &'static str,
    columns: &'static [&'static str],
    parse: fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let path = dir.join(file);
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&path, &e)),
    };
    let records = parse_csv(&text)
        .map_err(|(line, why)| Error::backend(format!("{file} line {line}: {why}")))?;
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else {
        return Ok(Vec::new());
    };
    if header.iter().map(|h| h.trim()).ne(columns.iter().copied()) {
        return Err(Error::backend(format!(
            "{file}: the header must be {}",
            columns.join(",")
        )));
    }
    records
        .map(|(line, cells)| {
            if cells.len() != columns.len() {
                return Err(Error::backend(format!(
                    "{file} line {line}: {} cells, expected {}",
                    cells.len(),
                    columns.len()
                )));
            }
            parse(&Row {
                file,
                line,
                columns,
                cells,
            })
        })
        .collect()
}

// ---- CSV (RFC 4180) ------------------------------------------------------------------------

/// A CSV record: the line it starts on and its cells.
type Record = (usize, Vec<String>);

/// Splits CSV text into records, each with the line it starts on. Quoted cells may hold
/// commas, quotes (doubled) and line breaks. Blank lines are skipped.
///
/// # Errors
/// The line and reason of the first malformed quote.
fn parse_csv(text: &str) -> std::result::Result<Vec<Record>, (usize, &'static str)> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut cell = String::new();
    let (mut line, mut start) = (1, 1);
    // `quoted`: inside quotes; `closed`: just after a closing quote.
    let (mut quoted, mut closed) = (false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        }
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => (quoted, closed) = (false, true),
                _ => cell.push(c),
            }
            continue;
        }
        match c {
            ',' => {
                record.push(std::mem::take(&mut cell));
                closed = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if !(record.is_empty() && cell.is_empty() && !closed) {
                    record.push(std::mem::take(&mut cell));
                    records.push((start, std::mem::take(&mut record)));
                }
                closed = false;
                start = line;
            }
            _ if closed => return Err((line, "text after a closing quote")),
            '"' if cell.is_empty() => quoted = true,
            '"' => return Err((line, "a quote inside an unquoted cell")),
            _ => cell.push(c),
        }
    }
    if quoted {
        return Err((start, "a quoted cell is never closed"));
    }
    if !(record.is_empty() && cell.is_empty() && !closed) {
        record.push(cell);
        records.push((start, record));
    }
    Ok(records)
}

/// One CSV line, quoting the cells that need it.
fn csv_line(cells: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for (i, c) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if c.contains([',', '"', '\n', '\r']) || c.trim() != c {
            out.push('"');
            out.push_str(&c.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&c);
        }
    }
    out.push('\n');
    out
}

// ---- the demo ------------------------------------------------------------------------------

/// Seeds `dir` with one company when it has none, runs the pipeline for one form submission
/// with [`CsvCrm`] as the CRM (the other ports offline), lets a worker run the pipeline job and
/// the CRM follow-up job, and returns the draft.
///
/// # Errors
/// Whatever the CRM or the pipeline returns.
pub async fn run_demo(dir: &Path) -> Result<Draft> {
    let companies = dir.join(COMPANIES);
    if !tokio::fs::try_exists(&companies).await.unwrap_or(false) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io_error(dir, &e))?;
        let text = format!(
            "{}\ncompany-1,Acme Robotics,acme-robotics.com,Industrial Machinery,420,Germany,\
             \"Welding and assembly robots, 40 sites\",\n",
            COMPANY_COLUMNS.join(",")
        );
        tokio::fs::write(&companies, text)
            .await
            .map_err(|e| io_error(&companies, &e))?;
    }
    let crm = Arc::new(CsvCrm::open(dir).await?);

    let clock: salesagent::core::ports::DynClock = Arc::new(SystemClock);
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let ports = Ports {
        crm,
        mailbox: Arc::new(FakeMailbox::new().with_clock(clock.clone())),
        drive: Arc::new(FakeDrive::new()),
        calendar: Arc::new(FakeCalendar::new().with_clock(clock.clone())),
        llm: Arc::new(TemplateLlm),
        store: store.clone(),
        clock: clock.clone(),
    };
    let mut config = PipelineConfig::new(EmailAddress::parse("sam@example.com")?);
    config.sender_name = "Sam Seller".to_owned();
    let pipeline = Arc::new(Pipeline::new(ports, config));

    let form = serde_json::json!({
        "submission_id": "csv-demo-0001",
        "form_id": "contact-sales",
        "submitted_at": "2026-11-25T09:12:00Z",
        "fields": {
            "email": "ann.lee@acme-robotics.com",
            "firstname": "Ann",
            "lastname": "Lee",
            "company": "Acme Robotics",
            "jobtitle": "VP Operations",
            "message": "We want to automate our inbound lead follow-up."
        }
    });
    let submission = FormSubmission::from_canonical_json(&form.to_string(), clock.now())?;
    let submitted = pipeline.submit(&submission).await?;
    Worker::new(pipeline, WorkerConfig::default())
        .run_until_idle(1)
        .await?;
    store
        .find_draft_by_submission(submitted.submission_id)
        .await?
        .ok_or_else(|| Error::not_found("the demo's draft"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let dir = std::env::args_os().nth(1).map_or_else(
        || std::env::temp_dir().join(format!("salesagent-csv-crm-{}", uuid::Uuid::new_v4())),
        PathBuf::from,
    );
    match run_demo(&dir).await {
        Ok(draft) => {
            println!("CRM files: {}", dir.display());
            println!(
                "To: {}\nSubject: {}\n\n{}",
                draft.contact_email, draft.subject, draft.body
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("custom_crm: {e}");
            ExitCode::FAILURE
        }
    }
}
