//! An in-memory CRM.

use super::lock;
use crate::model::{
    Company, Contact, CrmId, DealChange, DealChangePage, Domain, EmailAddress, NewContact, NewNote,
    NewTask, Note, Task, TaskStatus,
};
use crate::ports::Crm;
use crate::{Error, Result};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Debug, Default)]
struct CrmState {
    next_id: u64,
    contacts: Vec<Contact>,
    /// Position in `contacts` of the first contact with each normalized address.
    by_email: HashMap<String, usize>,
    /// Position in `contacts` of the first contact with each id.
    by_id: HashMap<CrmId, usize>,
    companies: Vec<Company>,
    tasks: Vec<Task>,
    notes: Vec<Note>,
    deals: Vec<DealChange>,
    created_contacts: Vec<Contact>,
    updates: Vec<(CrmId, BTreeMap<String, String>)>,
    associations: Vec<(CrmId, CrmId)>,
    created_tasks: Vec<Task>,
    created_notes: Vec<Note>,
}

impl CrmState {
    fn id(&mut self, prefix: &str) -> CrmId {
        self.next_id += 1;
        CrmId::new(format!("{prefix}-{}", self.next_id))
    }
    fn contact_mut(&mut self, id: &CrmId) -> Result<&mut Contact> {
        match self.by_id.get(id) {
            Some(&i) => Ok(&mut self.contacts[i]),
            None => Err(Error::not_found(format!("contact {id}"))),
        }
    }
    fn contact(&self, id: &CrmId) -> Option<&Contact> {
        self.by_id.get(id).map(|&i| &self.contacts[i])
    }
    fn contact_by_email(&self, email: &EmailAddress) -> Option<&Contact> {
        self.by_email
            .get(&email.normalized())
            .map(|&i| &self.contacts[i])
    }
    fn push_contact(&mut self, contact: Contact) {
        let i = self.contacts.len();
        self.by_email.entry(contact.email.normalized()).or_insert(i);
        self.by_id.entry(contact.crm_id.clone()).or_insert(i);
        self.contacts.push(contact);
    }
    /// Removes the contact with `id` (if any) and rebuilds the indexes.
    fn remove_contact(&mut self, id: &CrmId) {
        self.contacts.retain(|c| &c.crm_id != id);
        self.by_email.clear();
        self.by_id.clear();
        for (i, c) in self.contacts.iter().enumerate() {
            self.by_email.entry(c.email.normalized()).or_insert(i);
            self.by_id.entry(c.crm_id.clone()).or_insert(i);
        }
    }
}

/// An in-memory [`Crm`] that records every write. Ids are `contact-1`, `task-2`, … in call order.
#[derive(Debug, Default)]
pub struct FakeCrm {
    state: Mutex<CrmState>,
}

impl FakeCrm {
    /// An empty CRM.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Seeds a contact as given (replacing one with the same id). Not recorded as created.
    pub fn add_contact(&self, contact: Contact) {
        let mut s = lock(&self.state);
        s.remove_contact(&contact.crm_id);
        s.push_contact(contact);
    }

    /// Seeds a contact with just an address and names; returns it.
    pub fn seed_contact(
        &self,
        email: &EmailAddress,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Contact {
        let mut s = lock(&self.state);
        let contact = Contact {
            crm_id: s.id("contact"),
            email: email.clone(),
            first_name: first_name.map(str::to_owned),
            last_name: last_name.map(str::to_owned),
            job_title: None,
            phone: None,
            company_id: None,
            time_zone: None,
            properties: BTreeMap::new(),
        };
        s.push_contact(contact.clone());
        contact
    }

    /// Seeds a company as given (replacing one with the same id).
    pub fn add_company(&self, company: Company) {
        let mut s = lock(&self.state);
        s.companies.retain(|c| c.crm_id != company.crm_id);
        s.companies.push(company);
    }

    /// Seeds a company with a name and domain; returns it.
    pub fn seed_company(&self, name: &str, domain: Option<Domain>) -> Company {
        let mut s = lock(&self.state);
        let company = Company {
            crm_id: s.id("company"),
            name: name.to_owned(),
            domain,
            industry: None,
            employee_count: None,
            country: None,
            description: None,
            properties: BTreeMap::new(),
        };
        s.companies.push(company.clone());
        company
    }

    /// Seeds a task (replacing one with the same id). Not recorded as created.
    pub fn add_task(&self, task: Task) {
        let mut s = lock(&self.state);
        s.tasks.retain(|t| t.crm_id != task.crm_id);
        s.tasks.push(task);
    }

    /// Changes a task's status (as a salesperson would in the CRM).
    ///
    /// # Errors
    /// `NotFound` for an unknown task.
    pub fn set_task_status(
        &self,
        id: &CrmId,
        status: TaskStatus,
        completed_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<()> {
        let mut s = lock(&self.state);
        let t = s
            .tasks
            .iter_mut()
            .find(|t| &t.crm_id == id)
            .ok_or_else(|| Error::not_found(format!("task {id}")))?;
        t.status = status;
        t.completed_at = completed_at;
        Ok(())
    }

    /// Records a deal change (creation or a later state); `deal_changes` returns them in order.
    pub fn add_deal_change(&self, deal: DealChange) {
        lock(&self.state).deals.push(deal);
    }

    /// Every contact now in the CRM.
    #[must_use]
    pub fn contacts(&self) -> Vec<Contact> {
        lock(&self.state).contacts.clone()
    }

    /// Every company now in the CRM.
    #[must_use]
    pub fn companies(&self) -> Vec<Company> {
        lock(&self.state).companies.clone()
    }

    /// Contacts created through the port, in order.
    #[must_use]
    pub fn created_contacts(&self) -> Vec<Contact> {
        lock(&self.state).created_contacts.clone()
    }

    /// Property updates made through the port, in order.
    #[must_use]
    pub fn contact_updates(&self) -> Vec<(CrmId, BTreeMap<String, String>)> {
        lock(&self.state).updates.clone()
    }

    /// Contact→company associations made through the port, in order.
    #[must_use]
    pub fn associations(&self) -> Vec<(CrmId, CrmId)> {
        lock(&self.state).associations.clone()
    }

    /// Tasks created through the port, in order.
    #[must_use]
    pub fn created_tasks(&self) -> Vec<Task> {
        lock(&self.state).created_tasks.clone()
    }

    /// Notes created through the port, in order.
    #[must_use]
    pub fn created_notes(&self) -> Vec<Note> {
        lock(&self.state).created_notes.clone()
    }
}

fn check_association(s: &CrmState, contact: Option<&CrmId>, company: Option<&CrmId>) -> Result<()> {
    if let Some(id) = contact
        && s.contact(id).is_none()
    {
        return Err(Error::not_found(format!("contact {id}")));
    }
    if let Some(id) = company
        && !s.companies.iter().any(|c| &c.crm_id == id)
    {
        return Err(Error::not_found(format!("company {id}")));
    }
    Ok(())
}

#[async_trait]
impl Crm for FakeCrm {
    async fn find_contact_by_email(&self, email: &EmailAddress) -> Result<Option<Contact>> {
        Ok(lock(&self.state).contact_by_email(email).cloned())
    }

    async fn erase_contact(&self, email: &EmailAddress) -> Result<()> {
        let mut s = lock(&self.state);
        let key = email.normalized();
        let erased: Vec<CrmId> = s
            .contacts
            .iter()
            .filter(|c| c.email.normalized() == key)
            .map(|c| c.crm_id.clone())
            .collect();
        s.contacts.retain(|c| c.email.normalized() != key);
        s.created_contacts.retain(|c| c.email.normalized() != key);
        s.notes
            .retain(|n| n.contact_id.as_ref().is_none_or(|c| !erased.contains(c)));
        s.created_notes
            .retain(|n| n.contact_id.as_ref().is_none_or(|c| !erased.contains(c)));
        // Rebuild the indexes over what is left.
        let contacts = std::mem::take(&mut s.contacts);
        s.by_email.clear();
        s.by_id.clear();
        for c in contacts {
            s.push_contact(c);
        }
        Ok(())
    }

    async fn get_contact(&self, id: &CrmId) -> Result<Contact> {
        lock(&self.state)
            .contact(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("contact {id}")))
    }

    async fn create_contact(&self, contact: &NewContact) -> Result<Contact> {
        let email = contact
            .email
            .clone()
            .ok_or_else(|| Error::invalid("email", "is required to create a contact"))?;
        let mut s = lock(&self.state);
        if s.contact_by_email(&email).is_some() {
            return Err(Error::conflict(format!("a contact with {email} exists")));
        }
        let mut properties = contact.properties.clone();
        if let Some(name) = &contact.company_name {
            properties.insert("company".to_owned(), name.clone());
        }
        let created = Contact {
            crm_id: s.id("contact"),
            email,
            first_name: contact.first_name.clone(),
            last_name: contact.last_name.clone(),
            job_title: contact.job_title.clone(),
            phone: contact.phone.clone(),
            company_id: None,
            time_zone: None,
            properties,
        };
        s.push_contact(created.clone());
        s.created_contacts.push(created.clone());
        Ok(created)
    }

    async fn update_contact(
        &self,
        id: &CrmId,
        properties: &BTreeMap<String, String>,
    ) -> Result<Contact> {
        let mut s = lock(&self.state);
        let c = s.contact_mut(id)?;
        c.properties
            .extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        let updated = c.clone();
        s.updates.push((id.clone(), properties.clone()));
        Ok(updated)
    }

    async fn find_company_by_domain(&self, domain: &Domain) -> Result<Option<Company>> {
        Ok(Company::matching_domain(&lock(&self.state).companies, domain).cloned())
    }

    async fn get_company(&self, id: &CrmId) -> Result<Company> {
        lock(&self.state)
            .companies
            .iter()
            .find(|c| &c.crm_id == id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("company {id}")))
    }

    async fn associate_contact_company(&self, contact: &CrmId, company: &CrmId) -> Result<()> {
        let mut s = lock(&self.state);
        check_association(&s, Some(contact), Some(company))?;
        s.contact_mut(contact)?.company_id = Some(company.clone());
        let pair = (contact.clone(), company.clone());
        if !s.associations.contains(&pair) {
            s.associations.push(pair);
        }
        Ok(())
    }

    async fn create_task(&self, task: &NewTask) -> Result<Task> {
        if task.subject.trim().is_empty() {
            return Err(Error::invalid("subject", "is empty"));
        }
        let mut s = lock(&self.state);
        check_association(&s, task.contact_id.as_ref(), task.company_id.as_ref())?;
        let created = Task {
            crm_id: s.id("task"),
            subject: task.subject.clone(),
            body: task.body.clone(),
            status: TaskStatus::NotStarted,
            due_at: task.due_at,
            completed_at: None,
            contact_id: task.contact_id.clone(),
        };
        s.tasks.push(created.clone());
        s.created_tasks.push(created.clone());
        Ok(created)
    }

    async fn create_note(&self, note: &NewNote) -> Result<Note> {
        if note.body.trim().is_empty() {
            return Err(Error::invalid("body", "is empty"));
        }
        let mut s = lock(&self.state);
        check_association(&s, note.contact_id.as_ref(), note.company_id.as_ref())?;
        let created = Note {
            crm_id: s.id("note"),
            body: note.body.clone(),
            at: note.at,
            contact_id: note.contact_id.clone(),
        };
        s.notes.push(created.clone());
        s.created_notes.push(created.clone());
        Ok(created)
    }

    async fn tasks_for_contact(&self, contact: &CrmId) -> Result<Vec<Task>> {
        Ok(lock(&self.state)
            .tasks
            .iter()
            .filter(|t| t.contact_id.as_ref() == Some(contact))
            .cloned()
            .collect())
    }

    async fn deal_changes(&self, cursor: Option<&str>) -> Result<DealChangePage> {
        let from = match cursor {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .map_err(|_| Error::invalid("cursor", "is not a cursor this CRM issued"))?,
        };
        let s = lock(&self.state);
        let deals = s.deals.get(from..).unwrap_or_default().to_vec();
        Ok(DealChangePage {
            deals,
            next_cursor: Some(s.deals.len().max(from).to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    #[tokio::test]
    async fn lookups_follow_seeding_replacement_and_creation() {
        let crm = FakeCrm::new();
        let ann = crm.seed_contact(&addr("Ann@Acme.example"), Some("Ann"), None);
        let found = crm
            .find_contact_by_email(&addr("ann@acme.example"))
            .await
            .unwrap();
        assert_eq!(found.as_ref().map(|c| &c.crm_id), Some(&ann.crm_id));

        // Replacing a seeded contact by id moves its address; the old one no longer matches.
        crm.add_contact(Contact {
            email: addr("ann@new.example"),
            ..ann.clone()
        });
        assert!(
            crm.find_contact_by_email(&addr("ann@acme.example"))
                .await
                .unwrap()
                .is_none()
        );
        let moved = crm.get_contact(&ann.crm_id).await.unwrap();
        assert_eq!(moved.email, addr("ann@new.example"));

        // Creating a contact whose address exists is a conflict; a new one is found after.
        let new = NewContact {
            email: Some(addr("ANN@new.example")),
            ..NewContact::default()
        };
        assert!(matches!(
            crm.create_contact(&new).await,
            Err(Error::Conflict { .. })
        ));
        let bob = crm
            .create_contact(&NewContact {
                email: Some(addr("bob@acme.example")),
                ..NewContact::default()
            })
            .await
            .unwrap();
        let props = BTreeMap::from([("tier".to_owned(), "A".to_owned())]);
        crm.update_contact(&bob.crm_id, &props).await.unwrap();
        let found = crm
            .find_contact_by_email(&addr("Bob@acme.example"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.properties.get("tier").map(String::as_str), Some("A"));
        assert_eq!(crm.contacts().len(), 2);
    }
}
