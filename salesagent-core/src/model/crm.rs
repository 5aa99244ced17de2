//! CRM records: contacts, companies, tasks, notes and deal changes.

use super::{CrmId, Domain, EmailAddress};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A person in the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The CRM's id for this contact.
    pub crm_id: CrmId,
    /// Primary e-mail address.
    pub email: EmailAddress,
    /// Given name, if known.
    pub first_name: Option<String>,
    /// Family name, if known.
    pub last_name: Option<String>,
    /// Job title, if known.
    pub job_title: Option<String>,
    /// Phone number as entered.
    pub phone: Option<String>,
    /// The associated company, if any.
    pub company_id: Option<CrmId>,
    /// IANA time zone name (e.g. `Europe/Berlin`), if known.
    pub time_zone: Option<String>,
    /// Other CRM properties, as strings.
    pub properties: BTreeMap<String, String>,
}

impl Contact {
    /// "First Last", or whatever part is known, or the e-mail address.
    #[must_use]
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.email.to_string()
        } else {
            name
        }
    }
}

/// What is needed to create a contact.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewContact {
    /// Primary e-mail address (required by every CRM we know).
    pub email: Option<EmailAddress>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Company name as typed in the form.
    pub company_name: Option<String>,
    /// Other properties to set.
    pub properties: BTreeMap<String, String>,
}

/// An organisation in the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Company {
    /// The CRM's id for this company.
    pub crm_id: CrmId,
    /// Company name.
    pub name: String,
    /// Primary web/e-mail domain.
    pub domain: Option<Domain>,
    /// Industry as the CRM names it.
    pub industry: Option<String>,
    /// Number of employees.
    pub employee_count: Option<u32>,
    /// Country (name or ISO code as stored in the CRM).
    pub country: Option<String>,
    /// Free-text description.
    pub description: Option<String>,
    /// Other CRM properties.
    pub properties: BTreeMap<String, String>,
}

impl Company {
    /// The company of `companies` that a CRM lookup by `domain` finds: one with exactly that
    /// domain, else one whose domain is `domain`'s base (`acme.com` for `mail.acme.com`),
    /// else one with the same base domain. For CRMs that hold their companies in memory
    /// ([`Crm::find_company_by_domain`](crate::ports::Crm::find_company_by_domain)).
    #[must_use]
    pub fn matching_domain<'a>(companies: &'a [Company], domain: &Domain) -> Option<&'a Company> {
        let with = |pred: &dyn Fn(&Domain) -> bool| {
            companies
                .iter()
                .find(|c| c.domain.as_ref().is_some_and(pred))
        };
        with(&|d| d == domain)
            .or_else(|| with(&|d| d.as_str() == domain.base()))
            .or_else(|| with(&|d| d.base() == domain.base()))
    }
}

/// Status of a CRM task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not started yet.
    NotStarted,
    /// In progress.
    InProgress,
    /// Waiting on someone else.
    Waiting,
    /// Done.
    Completed,
    /// Put aside.
    Deferred,
}

/// What is needed to create a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// Short title.
    pub subject: String,
    /// Longer text.
    pub body: String,
    /// When the task is due.
    pub due_at: Option<DateTime<Utc>>,
    /// Contact to associate.
    pub contact_id: Option<CrmId>,
    /// Company to associate.
    pub company_id: Option<CrmId>,
    /// Owner (CRM user id), if any.
    pub owner_id: Option<String>,
}

/// A task in the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The CRM's id.
    pub crm_id: CrmId,
    /// Short title.
    pub subject: String,
    /// Longer text.
    pub body: String,
    /// Current status.
    pub status: TaskStatus,
    /// When the task is due.
    pub due_at: Option<DateTime<Utc>>,
    /// When it was completed, if it was.
    pub completed_at: Option<DateTime<Utc>>,
    /// Associated contact.
    pub contact_id: Option<CrmId>,
}

/// What is needed to create a note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewNote {
    /// Note text (HubSpot renders it as HTML; connectors escape it).
    pub body: String,
    /// Timestamp the note is about.
    pub at: DateTime<Utc>,
    /// Contact to associate.
    pub contact_id: Option<CrmId>,
    /// Company to associate.
    pub company_id: Option<CrmId>,
}

/// A note in the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// The CRM's id.
    pub crm_id: CrmId,
    /// Note text.
    pub body: String,
    /// Timestamp the note is about.
    pub at: DateTime<Utc>,
    /// Associated contact.
    pub contact_id: Option<CrmId>,
}

/// One observed state of a deal, for outcome detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealChange {
    /// The CRM's deal id.
    pub deal_id: CrmId,
    /// Deal name.
    pub name: String,
    /// Pipeline id.
    pub pipeline: String,
    /// Stage id now.
    pub stage: String,
    /// Position of the stage in its pipeline (0 = first), when the CRM knows it.
    pub stage_order: Option<u32>,
    /// Whether this stage closes the deal as won, lost, or neither.
    pub closed: Option<DealClosed>,
    /// Contacts associated with the deal.
    pub contact_ids: Vec<CrmId>,
    /// When the deal was created.
    pub created_at: DateTime<Utc>,
    /// When the deal last changed.
    pub updated_at: DateTime<Utc>,
}

/// How a closed deal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealClosed {
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
}

/// A page of deal changes plus the cursor to ask from next time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DealChangePage {
    /// Deals changed since the cursor, oldest first.
    pub deals: Vec<DealChange>,
    /// Opaque cursor for the next call.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(id: &str, domain: &str) -> Company {
        Company {
            crm_id: CrmId::new(id),
            name: id.to_owned(),
            domain: Some(Domain::parse(domain).unwrap()),
            industry: None,
            employee_count: None,
            country: None,
            description: None,
            properties: BTreeMap::new(),
        }
    }

    #[test]
    fn matching_domain_prefers_exact_then_base_then_same_base() {
        let d = |s: &str| Domain::parse(s).unwrap();
        let found = |cs: &[Company], s: &str| {
            Company::matching_domain(cs, &d(s)).map(|c| c.crm_id.as_str().to_owned())
        };
        let all = [
            company("eu", "eu.acme.com"),
            company("base", "acme.com"),
            company("mail", "mail.acme.com"),
        ];
        assert_eq!(found(&all, "mail.acme.com").as_deref(), Some("mail"));
        assert_eq!(found(&all, "shop.acme.com").as_deref(), Some("base"));
        assert_eq!(found(&all[..1], "shop.acme.com").as_deref(), Some("eu"));
        assert_eq!(found(&all, "acme.io"), None);
    }
}
