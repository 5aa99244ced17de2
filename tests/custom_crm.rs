//! The CSV CRM of `examples/custom_crm.rs` passes the same CRM conformance suite as the fake and
//! the HubSpot connector, keeps what it wrote across a reopen, rejects malformed files with a
//! typed error, and runs the pipeline end to end.

#[path = "../examples/custom_crm.rs"]
#[allow(dead_code)]
mod custom_crm;

use custom_crm::{CsvCrm, run_demo};
use salesagent::core::model::{CrmId, Domain, EmailAddress, NewContact};
use salesagent::core::pipeline::properties;
use salesagent::core::ports::Crm as _;
use salesagent::core::testing::conformance::crm::{self, CrmFixture};
use std::path::{Path, PathBuf};

/// A fresh directory under cargo's per-test temporary directory.
fn fresh_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("custom-crm-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const COMPANIES: &str = "id,name,domain,industry,employee_count,country,description,properties
company-7,Acme Industries,acme-industries.example,Manufacturing,250,Germany,\"Presses, lathes and \"\"smart\"\" tooling\",\"{\"\"tier\"\":\"\"gold\"\"}\"
";

const DEALS: &str = "id,name,pipeline,stage,stage_order,closed,contact_ids,created_at,updated_at
deal-9,Acme pilot,default,closedwon,5,won,,2026-01-05T10:00:00Z,2026-02-01T09:30:00Z
deal-8,Acme renewal,default,appointmentscheduled,1,,,2026-01-04T10:00:00Z,2026-01-20T12:00:00Z
";

fn seeded_dir() -> PathBuf {
    let dir = fresh_dir();
    std::fs::write(dir.join("companies.csv"), COMPANIES).unwrap();
    std::fs::write(dir.join("deals.csv"), DEALS).unwrap();
    dir
}

fn fixture() -> CrmFixture {
    CrmFixture {
        known_company: Some((
            Domain::parse("acme-industries.example").unwrap(),
            CrmId::new("company-7"),
        )),
        known_deal: Some(CrmId::new("deal-9")),
        ..CrmFixture::default()
    }
}

#[tokio::test]
async fn csv_crm_passes_the_crm_conformance_suite_and_survives_a_reopen() {
    let dir = seeded_dir();
    let crm = CsvCrm::open(&dir).await.unwrap();
    crm::run(&crm, &fixture()).await;
    // The backend may be reused: a second run uses fresh addresses.
    crm::run(&crm, &fixture()).await;

    // Everything the suite wrote is in the files: a new process sees it.
    let reopened = CsvCrm::open(&dir).await.unwrap();
    crm::run(&reopened, &fixture()).await;
    let contacts = std::fs::read_to_string(dir.join("contacts.csv")).unwrap();
    assert_eq!(
        contacts.lines().count(),
        1 + 3,
        "header and one contact per run"
    );
    let tasks = std::fs::read_to_string(dir.join("tasks.csv")).unwrap();
    assert_eq!(tasks.lines().count(), 1 + 3, "header and one task per run");
    // Ids keep growing across the reopen: nothing is overwritten.
    let ids: std::collections::BTreeSet<_> = contacts
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    // A quoted cell with commas and quotes round-tripped.
    let company = reopened
        .get_company(&CrmId::new("company-7"))
        .await
        .unwrap();
    assert_eq!(
        company.description.as_deref(),
        Some("Presses, lathes and \"smart\" tooling")
    );
    assert_eq!(company.properties["tier"], "gold");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn deal_changes_page_oldest_first_and_the_cursor_moves_on() {
    let dir = seeded_dir();
    let crm = CsvCrm::open(&dir).await.unwrap();
    let page = crm.deal_changes(None).await.unwrap();
    let ids: Vec<_> = page.deals.iter().map(|d| d.deal_id.as_str()).collect();
    assert_eq!(ids, ["deal-8", "deal-9"]);
    let cursor = page.next_cursor.expect("a cursor after a page");
    let next = crm.deal_changes(Some(&cursor)).await.unwrap();
    assert!(next.deals.is_empty(), "nothing changed since");
    assert_eq!(next.next_cursor.as_deref(), Some(cursor.as_str()));
    let err = crm.deal_changes(Some("yesterday")).await.unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn malformed_files_are_typed_errors_naming_the_place() {
    let cases = [
        (
            "contacts.csv",
            "id,email\n1,a@b.example\n",
            "header must be",
        ),
        (
            "contacts.csv",
            "id,email,first_name,last_name,job_title,phone,company_id,time_zone,properties\n\
             contact-1,not an address,,,,,,,\n",
            "contacts.csv line 2, column email",
        ),
        (
            "tasks.csv",
            "id,subject,body,status,due_at,completed_at,contact_id,company_id\n\
             task-1,Call,,done,,,,\n",
            "column status",
        ),
        (
            "notes.csv",
            "id,body,at,contact_id,company_id\nnote-1,\"unterminated,2026-01-01T00:00:00Z,,\n",
            "never closed",
        ),
        (
            "deals.csv",
            "id,name,pipeline,stage,stage_order,closed,contact_ids,created_at,updated_at\n\
             deal-1,X,default,won,1,won,,2026-01-01T00:00:00Z,last tuesday\n",
            "column updated_at",
        ),
        (
            "companies.csv",
            "id,name,domain,industry,employee_count,country,description,properties\n\
             company-1,Acme,acme.example,,many,,,\n",
            "column employee_count",
        ),
        (
            "companies.csv",
            "id,name,domain,industry,employee_count,country,description,properties\n\
             company-1,Acme\n",
            "2 cells, expected 8",
        ),
    ];
    for (file, text, expected) in cases {
        let dir = fresh_dir();
        std::fs::write(dir.join(file), text).unwrap();
        let err = CsvCrm::open(&dir).await.unwrap_err();
        assert_eq!(err.kind(), "backend", "{file}: {err}");
        assert!(err.to_string().contains(expected), "{file}: {err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[tokio::test]
async fn links_to_unknown_records_are_not_found() {
    let dir = seeded_dir();
    let crm = CsvCrm::open(&dir).await.unwrap();
    let ann = crm
        .create_contact(&NewContact {
            email: Some(EmailAddress::parse("ann@acme-industries.example").unwrap()),
            ..NewContact::default()
        })
        .await
        .unwrap();
    let err = crm
        .associate_contact_company(&ann.crm_id, &CrmId::new("company-404"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "not_found");
    let err = crm
        .associate_contact_company(&CrmId::new("contact-404"), &CrmId::new("company-7"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "not_found");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_example_runs_the_pipeline_and_its_crm_follow_up_through_the_csv_files() {
    let dir = fresh_dir();
    let draft = run_demo(&dir).await.unwrap();
    assert_eq!(draft.contact_email.to_string(), "ann.lee@acme-robotics.com");
    assert!(draft.body.contains("Ann"), "{}", draft.body);

    // The follow-up job wrote to the CRM: contact linked to the seeded company, ICP score and
    // segment as properties, a review task and a note.
    let crm = CsvCrm::open(&dir).await.unwrap();
    let ann = crm
        .find_contact_by_email(&draft.contact_email)
        .await
        .unwrap()
        .expect("the pipeline created the contact");
    assert_eq!(ann.company_id, Some(CrmId::new("company-1")));
    assert_eq!(
        ann.properties[properties::ICP_TIER],
        draft.icp.unwrap().tier
    );
    assert_eq!(crm.tasks_for_contact(&ann.crm_id).await.unwrap().len(), 1);
    let notes = std::fs::read_to_string(dir.join("notes.csv")).unwrap();
    assert!(notes.contains(&draft.subject), "{notes}");

    // Running it again reuses the contact: one contact, still one company.
    run_demo(&dir).await.unwrap();
    let contacts = std::fs::read_to_string(dir.join("contacts.csv")).unwrap();
    assert_eq!(contacts.lines().count(), 2, "{contacts}");
    std::fs::remove_dir_all(&dir).unwrap();
}
