//! HubSpot CRM requests (`Crm` port).

use super::HubSpot;
use super::model::{
    AssociationPage, AssociationSpec, AssociationsForObject, BatchReadInput, BatchResponse,
    CreateInput, Filter, FilterGroup, ObjectId, SearchRequest, SearchResponse, SimplePublicObject,
    UpdateInput,
};
use crate::http::Request;
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use reqwest::Method;
use salesagent_core::encoding::escape_html;
use salesagent_core::model::{
    Company, Contact, CrmId, DealChange, DealChangePage, DealClosed, Domain, EmailAddress,
    NewContact, NewNote, NewTask, Note, Task, TaskStatus,
};
use salesagent_core::ports::Crm;
use salesagent_core::{Error, Result};
use std::collections::BTreeMap;

/// Contact properties read back.
pub(crate) const CONTACT_PROPS: &[&str] = &[
    "email",
    "firstname",
    "lastname",
    "jobtitle",
    "phone",
    "associatedcompanyid",
    "hs_timezone",
];
const COMPANY_PROPS: &[&str] = &[
    "name",
    "domain",
    "industry",
    "numberofemployees",
    "country",
    "description",
];
const TASK_PROPS: &[&str] = &[
    "hs_task_subject",
    "hs_task_body",
    "hs_task_status",
    "hs_timestamp",
    "hs_task_completion_date",
];
const DEAL_PROPS: &[&str] = &[
    "dealname",
    "pipeline",
    "dealstage",
    "createdate",
    "hs_lastmodifieddate",
    "hs_is_closed",
    "hs_is_closed_won",
];

// HubSpot-defined association type ids (HubSpot's association type reference).
const NOTE_TO_CONTACT: u32 = 202;
const NOTE_TO_COMPANY: u32 = 190;
const TASK_TO_CONTACT: u32 = 204;
const TASK_TO_COMPANY: u32 = 192;

fn objects(kind: &str) -> Vec<String> {
    vec!["crm".into(), "v3".into(), "objects".into(), kind.into()]
}

fn path(kind: &str, rest: &[&str]) -> Vec<String> {
    let mut p = objects(kind);
    p.extend(rest.iter().map(|s| (*s).to_owned()));
    p
}

fn search(props: &[&str], filters: Vec<Filter>, sorts: Vec<String>, limit: u32) -> SearchRequest {
    SearchRequest {
        filter_groups: if filters.is_empty() {
            vec![]
        } else {
            vec![FilterGroup { filters }]
        },
        sorts,
        properties: props.iter().map(|s| (*s).to_owned()).collect(),
        limit,
        after: "0".into(),
    }
}

fn eq(name: &str, value: &str) -> Filter {
    Filter {
        property_name: name.into(),
        operator: "EQ".into(),
        value: Some(value.into()),
    }
}

fn assoc(to: &CrmId, type_id: u32) -> AssociationsForObject {
    AssociationsForObject {
        to: ObjectId {
            id: to.as_str().to_owned(),
        },
        types: vec![AssociationSpec {
            association_category: "HUBSPOT_DEFINED".into(),
            association_type_id: type_id,
        }],
    }
}

/// Parses HubSpot timestamps: RFC 3339 or epoch milliseconds.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return Utc.timestamp_millis_opt(ms).single();
    }
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

pub(crate) fn contact_from(o: &SimplePublicObject) -> Result<Contact> {
    let email = o
        .prop("email")
        .ok_or_else(|| Error::backend(format!("hubspot: contact {} has no email", o.id)))
        .and_then(EmailAddress::parse)?;
    let properties = o
        .properties
        .iter()
        .filter(|(k, _)| !CONTACT_PROPS.contains(&k.as_str()))
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    Ok(Contact {
        crm_id: CrmId::new(o.id.clone()),
        email,
        first_name: o.prop("firstname").map(str::to_owned),
        last_name: o.prop("lastname").map(str::to_owned),
        job_title: o.prop("jobtitle").map(str::to_owned),
        phone: o.prop("phone").map(str::to_owned),
        company_id: o.prop("associatedcompanyid").map(CrmId::from),
        time_zone: o.prop("hs_timezone").map(str::to_owned),
        properties,
    })
}

fn company_from(o: &SimplePublicObject) -> Company {
    let properties = o
        .properties
        .iter()
        .filter(|(k, _)| !COMPANY_PROPS.contains(&k.as_str()))
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    Company {
        crm_id: CrmId::new(o.id.clone()),
        name: o.prop("name").unwrap_or_default().to_owned(),
        domain: o.prop("domain").and_then(|d| Domain::parse(d).ok()),
        industry: o.prop("industry").map(str::to_owned),
        employee_count: o
            .prop("numberofemployees")
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| n.min(f64::from(u32::MAX)) as u32),
        country: o.prop("country").map(str::to_owned),
        description: o.prop("description").map(str::to_owned),
        properties,
    }
}

fn task_status(s: Option<&str>) -> TaskStatus {
    match s.unwrap_or("NOT_STARTED") {
        "COMPLETED" => TaskStatus::Completed,
        "IN_PROGRESS" => TaskStatus::InProgress,
        "WAITING" => TaskStatus::Waiting,
        "DEFERRED" => TaskStatus::Deferred,
        _ => TaskStatus::NotStarted,
    }
}

fn task_from(o: &SimplePublicObject, contact: Option<&CrmId>) -> Task {
    let status = task_status(o.prop("hs_task_status"));
    Task {
        crm_id: CrmId::new(o.id.clone()),
        subject: o.prop("hs_task_subject").unwrap_or_default().to_owned(),
        body: o.prop("hs_task_body").unwrap_or_default().to_owned(),
        status,
        due_at: o.prop("hs_timestamp").and_then(parse_time),
        completed_at: o
            .prop("hs_task_completion_date")
            .and_then(parse_time)
            .filter(|_| status == TaskStatus::Completed),
        contact_id: contact.cloned(),
    }
}

/// Escapes text for HubSpot's HTML note body: HTML-escaped, line breaks as `<br>`.
fn html_escape(s: &str) -> String {
    escape_html(s).replace('\n', "<br>")
}

impl HubSpot {
    async fn search_objects(&self, kind: &str, req: &SearchRequest) -> Result<SearchResponse> {
        let r = Request::post("search", path(kind, &["search"]))
            .json(req)?
            .idempotent();
        self.http.send(&r).await?.json("hubspot")
    }

    async fn get_object(&self, kind: &str, id: &str, props: &[&str]) -> Result<SimplePublicObject> {
        let mut r = Request::get("get", path(kind, &[id]));
        for p in props {
            r = r.query("properties", *p);
        }
        self.http.send(&r).await?.json("hubspot")
    }

    async fn create_object(&self, kind: &str, input: &CreateInput) -> Result<SimplePublicObject> {
        let r = Request::post("create", objects(kind)).json(input)?;
        self.http.send(&r).await?.json("hubspot")
    }

    async fn associated_ids(&self, from: &str, id: &str, to: &str) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut r = Request::get(
                "associations",
                ["crm", "v4", "objects", from, id, "associations", to],
            )
            .query("limit", "500");
            if let Some(a) = &after {
                r = r.query("after", a.clone());
            }
            let page: AssociationPage = self.http.send(&r).await?.json("hubspot")?;
            ids.extend(
                page.results
                    .iter()
                    .filter_map(super::model::AssociatedObject::id),
            );
            after = page.paging.and_then(|p| p.next).map(|n| n.after);
            if after.is_none() || ids.len() >= 5000 {
                return Ok(ids);
            }
        }
    }

    /// A harmless authenticated read (a contact search with limit 1), for health checks.
    pub async fn check(&self) -> Result<()> {
        let req = search(&["email"], vec![], vec![], 1);
        self.search_objects("contacts", &req).await.map(|_| ())
    }
}

#[async_trait]
impl Crm for HubSpot {
    async fn find_contact_by_email(&self, email: &EmailAddress) -> Result<Option<Contact>> {
        let req = search(
            CONTACT_PROPS,
            vec![eq("email", &email.normalized())],
            vec![],
            1,
        );
        let resp = self.search_objects("contacts", &req).await?;
        resp.results.first().map(contact_from).transpose()
    }

    /// `GET /crm/v3/objects/contacts/{contactId}` with the contact properties the connector
    /// reads everywhere. Unknown id: `NotFound`.
    async fn get_contact(&self, id: &CrmId) -> Result<Contact> {
        let o = self
            .get_object("contacts", id.as_str(), CONTACT_PROPS)
            .await?;
        contact_from(&o)
    }

    async fn create_contact(&self, contact: &NewContact) -> Result<Contact> {
        let email = contact
            .email
            .as_ref()
            .ok_or_else(|| Error::invalid("email", "is required"))?;
        let mut props = contact.properties.clone();
        props.insert("email".into(), email.normalized());
        let mut set = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                props.insert(k.into(), v.clone());
            }
        };
        set("firstname", &contact.first_name);
        set("lastname", &contact.last_name);
        set("jobtitle", &contact.job_title);
        set("phone", &contact.phone);
        set("company", &contact.company_name);
        let o = self
            .create_object(
                "contacts",
                &CreateInput {
                    properties: props,
                    associations: vec![],
                },
            )
            .await?;
        contact_from(&o)
    }

    async fn update_contact(
        &self,
        id: &CrmId,
        properties: &BTreeMap<String, String>,
    ) -> Result<Contact> {
        let r = Request::new("update", Method::PATCH, path("contacts", &[id.as_str()])).json(
            &UpdateInput {
                properties: properties.clone(),
            },
        )?;
        let o: SimplePublicObject = self.http.send(&r).await?.json("hubspot")?;
        if o.prop("email").is_some() {
            contact_from(&o)
        } else {
            // PATCH answers with the changed properties only; read the full contact.
            self.get_contact(id).await
        }
    }

    async fn find_company_by_domain(&self, domain: &Domain) -> Result<Option<Company>> {
        let mut candidates = vec![domain.as_str().to_owned()];
        if domain.base() != domain.as_str() {
            candidates.push(domain.base().to_owned());
        }
        for d in candidates {
            let req = search(COMPANY_PROPS, vec![eq("domain", &d)], vec![], 1);
            let resp = self.search_objects("companies", &req).await?;
            if let Some(o) = resp.results.first() {
                return Ok(Some(company_from(o)));
            }
        }
        Ok(None)
    }

    async fn get_company(&self, id: &CrmId) -> Result<Company> {
        let o = self
            .get_object("companies", id.as_str(), COMPANY_PROPS)
            .await?;
        Ok(company_from(&o))
    }

    async fn associate_contact_company(&self, contact: &CrmId, company: &CrmId) -> Result<()> {
        let r = Request::new(
            "associate",
            Method::PUT,
            [
                "crm",
                "v4",
                "objects",
                "contact",
                contact.as_str(),
                "associations",
                "default",
                "company",
                company.as_str(),
            ],
        );
        self.http.send(&r).await.map(|_| ())
    }

    async fn create_task(&self, task: &NewTask) -> Result<Task> {
        let mut props = BTreeMap::new();
        props.insert("hs_task_subject".to_owned(), task.subject.clone());
        props.insert("hs_task_body".to_owned(), task.body.clone());
        props.insert("hs_task_status".to_owned(), "NOT_STARTED".to_owned());
        let due = task.due_at.unwrap_or_else(|| self.clock.now());
        props.insert("hs_timestamp".to_owned(), due.to_rfc3339());
        if let Some(owner) = &task.owner_id {
            props.insert("hubspot_owner_id".to_owned(), owner.clone());
        }
        let mut associations = vec![];
        if let Some(c) = &task.contact_id {
            associations.push(assoc(c, TASK_TO_CONTACT));
        }
        if let Some(c) = &task.company_id {
            associations.push(assoc(c, TASK_TO_COMPANY));
        }
        let o = self
            .create_object(
                "tasks",
                &CreateInput {
                    properties: props,
                    associations,
                },
            )
            .await?;
        let mut t = task_from(&o, task.contact_id.as_ref());
        if t.subject.is_empty() {
            t.subject.clone_from(&task.subject);
        }
        if t.body.is_empty() {
            t.body.clone_from(&task.body);
        }
        if t.due_at.is_none() {
            t.due_at = task.due_at;
        }
        Ok(t)
    }

    async fn create_note(&self, note: &NewNote) -> Result<Note> {
        let mut props = BTreeMap::new();
        props.insert("hs_note_body".to_owned(), html_escape(&note.body));
        props.insert("hs_timestamp".to_owned(), note.at.to_rfc3339());
        let mut associations = vec![];
        if let Some(c) = &note.contact_id {
            associations.push(assoc(c, NOTE_TO_CONTACT));
        }
        if let Some(c) = &note.company_id {
            associations.push(assoc(c, NOTE_TO_COMPANY));
        }
        let o = self
            .create_object(
                "notes",
                &CreateInput {
                    properties: props,
                    associations,
                },
            )
            .await?;
        Ok(Note {
            crm_id: CrmId::new(o.id.clone()),
            body: note.body.clone(),
            at: o
                .prop("hs_timestamp")
                .and_then(parse_time)
                .unwrap_or(note.at),
            contact_id: note.contact_id.clone(),
        })
    }

    async fn erase_contact(&self, email: &EmailAddress) -> Result<()> {
        // POST /crm/v3/objects/contacts/gdpr-delete {"objectId": <email>, "idProperty": "email"}
        // → 204. An unknown address is blocklisted by HubSpot and also answers 204, so a repeat
        // is harmless: the request may be resent.
        let body = serde_json::json!({ "objectId": email.to_string(), "idProperty": "email" });
        let r = Request::post("gdpr_delete", path("contacts", &["gdpr-delete"]))
            .json(&body)?
            .idempotent();
        self.http.send(&r).await?;
        Ok(())
    }

    async fn tasks_for_contact(&self, contact: &CrmId) -> Result<Vec<Task>> {
        let ids = self
            .associated_ids("contact", contact.as_str(), "task")
            .await?;
        let mut tasks = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let input = BatchReadInput {
                inputs: chunk.iter().map(|id| ObjectId { id: id.clone() }).collect(),
                properties: TASK_PROPS.iter().map(|s| (*s).to_owned()).collect(),
                properties_with_history: vec![],
            };
            let r = Request::post("batch_read", path("tasks", &["batch", "read"]))
                .json(&input)?
                .idempotent();
            let resp: BatchResponse = self.http.send(&r).await?.json("hubspot")?;
            tasks.extend(resp.results.iter().map(|o| task_from(o, Some(contact))));
        }
        tasks.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.crm_id.cmp(&b.crm_id)));
        Ok(tasks)
    }

    async fn deal_changes(&self, cursor: Option<&str>) -> Result<DealChangePage> {
        let mut filters = vec![];
        if let Some(c) = cursor {
            let ms: i64 = c
                .parse()
                .map_err(|_| Error::invalid("cursor", "not a HubSpot deal cursor"))?;
            filters.push(Filter {
                property_name: "hs_lastmodifieddate".into(),
                operator: "GT".into(),
                value: Some(ms.to_string()),
            });
        }
        let req = search(DEAL_PROPS, filters, vec!["hs_lastmodifieddate".into()], 100);
        let resp = self.search_objects("deals", &req).await?;
        let mut deals = Vec::with_capacity(resp.results.len());
        for o in &resp.results {
            let updated_at = o
                .prop("hs_lastmodifieddate")
                .and_then(parse_time)
                .or_else(|| o.updated_at.as_deref().and_then(parse_time))
                .ok_or_else(|| {
                    Error::backend(format!("hubspot: deal {} has no modified date", o.id))
                })?;
            let created_at = o
                .prop("createdate")
                .and_then(parse_time)
                .or_else(|| o.created_at.as_deref().and_then(parse_time))
                .unwrap_or(updated_at);
            let closed = match (o.prop("hs_is_closed"), o.prop("hs_is_closed_won")) {
                (_, Some("true")) => Some(DealClosed::Won),
                (Some("true"), _) => Some(DealClosed::Lost),
                _ => None,
            };
            let contact_ids = self
                .associated_ids("deal", &o.id, "contact")
                .await?
                .into_iter()
                .map(CrmId::new)
                .collect();
            deals.push(DealChange {
                deal_id: CrmId::new(o.id.clone()),
                name: o.prop("dealname").unwrap_or_default().to_owned(),
                pipeline: o.prop("pipeline").unwrap_or_default().to_owned(),
                stage: o.prop("dealstage").unwrap_or_default().to_owned(),
                stage_order: None,
                closed,
                contact_ids,
                created_at,
                updated_at,
            });
        }
        deals.sort_by_key(|d| d.updated_at);
        let next_cursor = deals
            .last()
            .map(|d| d.updated_at.timestamp_millis().to_string())
            .or_else(|| cursor.map(str::to_owned));
        Ok(DealChangePage { deals, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_note_html() {
        assert_eq!(
            html_escape("<b>Hi</b> & \"x\"\nok"),
            "&lt;b&gt;Hi&lt;/b&gt; &amp; &quot;x&quot;<br>ok"
        );
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time("1564113600000").unwrap().to_rfc3339(),
            "2019-07-26T04:00:00+00:00"
        );
        assert!(parse_time("2024-01-02T03:04:05.123Z").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
