//! The CRM conformance suite.

use super::{base_time, expect_err, ok, unique};
use crate::model::{CrmId, Domain, EmailAddress, NewContact, NewNote, NewTask, TaskStatus};
use crate::ports::Crm;
use chrono::TimeDelta;
use std::collections::BTreeMap;

/// What the CRM under test already holds (the port cannot create companies or deals).
#[derive(Debug, Clone)]
pub struct CrmFixture {
    /// A company the CRM knows, by domain and id; enables the company checks.
    pub known_company: Option<(Domain, CrmId)>,
    /// A deal `deal_changes(None)` must report; enables the deal check.
    pub known_deal: Option<CrmId>,
    /// The domain of the contacts the suite creates (fresh local parts each run).
    pub email_domain: Domain,
    /// An id no record has.
    pub unknown_id: CrmId,
}

impl Default for CrmFixture {
    fn default() -> Self {
        Self {
            known_company: None,
            known_deal: None,
            email_domain: Domain::parse("conformance.example").expect("valid domain"),
            unknown_id: CrmId::new("999999999999"),
        }
    }
}

/// Runs the CRM suite against `crm`.
pub async fn run<C: Crm + ?Sized>(crm: &C, fixture: &CrmFixture) {
    let local = format!("lead.{}", unique());
    let email = EmailAddress::parse(&format!("{local}@{}", fixture.email_domain)).expect("valid");
    let shouting = EmailAddress::parse(&format!(
        "{}@{}",
        local.to_ascii_uppercase(),
        fixture.email_domain
    ))
    .expect("valid");

    assert!(
        ok(
            crm.find_contact_by_email(&email).await,
            "find_contact_by_email"
        )
        .is_none(),
        "crm: a fresh address must not be found"
    );
    let created = ok(
        crm.create_contact(&NewContact {
            email: Some(email.clone()),
            first_name: Some("Grace".into()),
            last_name: Some("Hopper".into()),
            job_title: Some("Rear Admiral".into()),
            phone: None,
            company_name: None,
            properties: BTreeMap::new(),
        })
        .await,
        "create_contact",
    );
    assert_eq!(
        created.email.normalized(),
        email.normalized(),
        "crm: created contact keeps its address"
    );
    assert_eq!(
        created.first_name.as_deref(),
        Some("Grace"),
        "crm: created contact keeps its first name"
    );
    assert!(
        !created.crm_id.as_str().is_empty(),
        "crm: a created contact has an id"
    );
    let found = ok(
        crm.find_contact_by_email(&shouting).await,
        "find_contact_by_email",
    )
    .expect("crm: the created contact must be found, case-insensitively");
    assert_eq!(
        found.crm_id, created.crm_id,
        "crm: lookup finds the created contact"
    );
    // `get_contact` is optional (the port's default answers `Unsupported`).
    match crm.get_contact(&created.crm_id).await {
        Ok(got) => {
            assert_eq!(
                got.crm_id, created.crm_id,
                "crm: get_contact returns the contact asked for"
            );
            assert_eq!(
                got.email.normalized(),
                email.normalized(),
                "crm: get_contact returns the contact's address"
            );
            expect_err(
                crm.get_contact(&fixture.unknown_id).await,
                "not_found",
                "crm: get_contact of an unknown id",
            );
        }
        Err(e) if e.kind() == "unsupported" => {}
        Err(e) => panic!("crm: get_contact of a created contact failed: {e}"),
    }
    expect_err(
        crm.create_contact(&NewContact {
            email: Some(email.clone()),
            ..NewContact::default()
        })
        .await,
        "conflict",
        "crm: creating a second contact with the same address",
    );
    expect_err(
        crm.create_contact(&NewContact::default()).await,
        "invalid_input",
        "crm: creating a contact without an address",
    );

    let props = BTreeMap::from([("salesagent_icp_score".to_owned(), "87".to_owned())]);
    let updated = ok(
        crm.update_contact(&created.crm_id, &props).await,
        "update_contact",
    );
    assert_eq!(
        updated
            .properties
            .get("salesagent_icp_score")
            .map(String::as_str),
        Some("87"),
        "crm: update_contact returns the contact with the new property"
    );
    expect_err(
        crm.update_contact(&fixture.unknown_id, &props).await,
        "not_found",
        "crm: update_contact of an unknown id",
    );
    expect_err(
        crm.get_company(&fixture.unknown_id).await,
        "not_found",
        "crm: get_company of an unknown id",
    );
    let nowhere = Domain::parse(&format!("c{}.invalid", unique())).expect("valid domain");
    assert!(
        ok(
            crm.find_company_by_domain(&nowhere).await,
            "find_company_by_domain"
        )
        .is_none(),
        "crm: an unknown domain finds no company"
    );

    if let Some((domain, id)) = &fixture.known_company {
        let company = ok(
            crm.find_company_by_domain(domain).await,
            "find_company_by_domain",
        )
        .expect("crm: the fixture's company must be found by its domain");
        assert_eq!(
            &company.crm_id, id,
            "crm: find_company_by_domain finds the fixture's company"
        );
        let sub = Domain::parse(&format!("mail.{domain}")).expect("valid domain");
        let by_sub = ok(
            crm.find_company_by_domain(&sub).await,
            "find_company_by_domain",
        );
        assert_eq!(
            by_sub.map(|c| c.crm_id),
            Some(id.clone()),
            "crm: a subdomain finds the company of its base domain"
        );
        assert_eq!(
            &ok(crm.get_company(id).await, "get_company").crm_id,
            id,
            "crm: get_company"
        );
        ok(
            crm.associate_contact_company(&created.crm_id, id).await,
            "associate_contact_company",
        );
        ok(
            crm.associate_contact_company(&created.crm_id, id).await,
            "associate_contact_company twice",
        );
        let linked = ok(
            crm.find_contact_by_email(&email).await,
            "find_contact_by_email",
        )
        .expect("contact exists");
        assert_eq!(
            linked.company_id.as_ref(),
            Some(id),
            "crm: the association shows on the contact"
        );
    }

    let due = base_time() + TimeDelta::days(2);
    let task = ok(
        crm.create_task(&NewTask {
            subject: "Follow up with Grace".into(),
            body: "Ask about the compiler".into(),
            due_at: Some(due),
            contact_id: Some(created.crm_id.clone()),
            company_id: None,
            owner_id: None,
        })
        .await,
        "create_task",
    );
    assert_eq!(task.subject, "Follow up with Grace", "crm: task subject");
    assert_eq!(task.due_at, Some(due), "crm: task due date");
    assert_ne!(
        task.status,
        TaskStatus::Completed,
        "crm: a new task is not completed"
    );
    assert_eq!(
        task.contact_id.as_ref(),
        Some(&created.crm_id),
        "crm: task associated with the contact"
    );
    let tasks = ok(
        crm.tasks_for_contact(&created.crm_id).await,
        "tasks_for_contact",
    );
    assert!(
        tasks.iter().any(|t| t.crm_id == task.crm_id),
        "crm: tasks_for_contact lists the new task"
    );
    let note = ok(
        crm.create_note(&NewNote {
            body: "Draft sent by salesagent".into(),
            at: base_time(),
            contact_id: Some(created.crm_id.clone()),
            company_id: None,
        })
        .await,
        "create_note",
    );
    assert_eq!(note.body, "Draft sent by salesagent", "crm: note body");
    assert_eq!(
        note.contact_id.as_ref(),
        Some(&created.crm_id),
        "crm: note associated with the contact"
    );

    let page = ok(crm.deal_changes(None).await, "deal_changes");
    assert!(
        page.deals
            .windows(2)
            .all(|w| w[0].updated_at <= w[1].updated_at),
        "crm: deal changes come oldest first"
    );
    if let Some(deal) = &fixture.known_deal {
        assert!(
            page.deals.iter().any(|d| &d.deal_id == deal),
            "crm: deal_changes(None) reports the fixture's deal"
        );
    }
    if let Some(cursor) = &page.next_cursor {
        let next = ok(
            crm.deal_changes(Some(cursor)).await,
            "deal_changes with cursor",
        );
        if let Some(last) = page.deals.last() {
            assert!(
                next.deals.iter().all(|d| d.updated_at >= last.updated_at),
                "crm: a cursor never goes back in time"
            );
        }
    }
}
