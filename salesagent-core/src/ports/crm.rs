//! The CRM port (HubSpot, or any CRM an integrator plugs in).

use crate::Result;
use crate::model::{
    Company, Contact, CrmId, DealChangePage, Domain, EmailAddress, NewContact, NewNote, NewTask,
    Note, Task,
};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Contacts, companies, tasks, notes and deals in a CRM.
#[async_trait]
pub trait Crm: Send + Sync + std::fmt::Debug + 'static {
    /// The contact with this e-mail address, if any (case-insensitive).
    async fn find_contact_by_email(&self, email: &EmailAddress) -> Result<Option<Contact>>;

    /// The contact with this CRM id. Unknown id: `NotFound`.
    ///
    /// Optional: the default answers [`Error::Unsupported`](crate::Error::Unsupported), so a
    /// CRM without it still plugs in; only CRM contact events
    /// ([`kinds::CRM_CONTACT_EVENT`](crate::model::kinds::CRM_CONTACT_EVENT)) need it.
    async fn get_contact(&self, id: &CrmId) -> Result<Contact> {
        Err(crate::Error::unsupported(format!(
            "this CRM cannot read a contact by id ({id})"
        )))
    }

    /// Creates a contact. [`Error::Conflict`](crate::Error::Conflict) if one with that e-mail exists.
    async fn create_contact(&self, contact: &NewContact) -> Result<Contact>;

    /// Sets properties on a contact (e.g. ICP score and segment). Unknown contact: `NotFound`.
    async fn update_contact(
        &self,
        id: &CrmId,
        properties: &BTreeMap<String, String>,
    ) -> Result<Contact>;

    /// The company with this domain (or its base domain), if any.
    async fn find_company_by_domain(&self, domain: &Domain) -> Result<Option<Company>>;

    /// A company by id. Unknown id: `NotFound`.
    async fn get_company(&self, id: &CrmId) -> Result<Company>;

    /// Associates a contact with a company (idempotent).
    async fn associate_contact_company(&self, contact: &CrmId, company: &CrmId) -> Result<()>;

    /// Creates a task associated with the given contact/company.
    async fn create_task(&self, task: &NewTask) -> Result<Task>;

    /// Creates a note associated with the given contact/company.
    async fn create_note(&self, note: &NewNote) -> Result<Note>;

    /// Tasks associated with a contact (for completed/overdue detection).
    async fn tasks_for_contact(&self, contact: &CrmId) -> Result<Vec<Task>>;

    /// Deals changed since `cursor` (None = from the beginning), oldest first.
    async fn deal_changes(&self, cursor: Option<&str>) -> Result<DealChangePage>;

    /// Permanently erases the contact with this address from the CRM (GDPR erasure), where the
    /// CRM offers it. Erasing an unknown address is not an error. The default answers
    /// [`Error::Unsupported`](crate::Error::Unsupported).
    async fn erase_contact(&self, email: &EmailAddress) -> Result<()> {
        let _ = email;
        Err(crate::Error::unsupported("erasing a contact in this CRM"))
    }
}

/// A shared CRM.
pub type DynCrm = Arc<dyn Crm>;
