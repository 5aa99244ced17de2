//! HubSpot connector against a mock server, with fixtures and request checks built from
//! `contracts/hubspot/*.openapi.json` and the signature vectors.

mod common;

use common::spec::{OpenApi, assert_all_follow};
use salesagent_connectors::http::{HttpConfig, RetryPolicy};
use salesagent_connectors::hubspot::webhook::{
    self, SignatureVersion, WebhookRequest, parse_payload, verify_v1, verify_v2, verify_v3,
};
use salesagent_connectors::hubspot::{HubSpot, HubSpotBuilder};
use salesagent_core::Error;
use salesagent_core::model::{
    CrmId, Domain, EmailAddress, NewContact, NewNote, NewTask, TaskStatus,
};
use salesagent_core::ports::Crm;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "pat-na1-11111111-2222-3333-4444-555555555555";

struct Specs {
    contacts: OpenApi,
    companies: OpenApi,
    tasks: OpenApi,
    notes: OpenApi,
    assoc: OpenApi,
}

fn specs() -> Specs {
    Specs {
        contacts: OpenApi::load("hubspot/crm-contacts.openapi.json"),
        companies: OpenApi::load("hubspot/crm-companies.openapi.json"),
        tasks: OpenApi::load("hubspot/crm-tasks.openapi.json"),
        notes: OpenApi::load("hubspot/crm-notes.openapi.json"),
        assoc: OpenApi::load("hubspot/crm-associations-v4.openapi.json"),
    }
}

impl Specs {
    fn check(&self, r: &wiremock::Request) -> Result<(), String> {
        let p = r.url.path();
        if p.starts_with("/crm/v4/") {
            self.assoc.check_request(r)
        } else if p.starts_with("/crm/v3/objects/contacts") {
            self.contacts.check_request(r)
        } else if p.starts_with("/crm/v3/objects/companies") {
            self.companies.check_request(r)
        } else if p.starts_with("/crm/v3/objects/tasks") {
            self.tasks.check_request(r)
        } else if p.starts_with("/crm/v3/objects/notes") {
            self.notes.check_request(r)
        } else if p == "/crm/v3/objects/deals/search" {
            // Deals are not in the contracts; the search body is the shared CRM search schema.
            let body: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
            let s = &self.contacts.0["components"]["schemas"]["PublicObjectSearchRequest"];
            common::spec::validate(s, &body, "deal search", &|name: &str| {
                self.contacts.0["components"]["schemas"]
                    .get(name.trim_start_matches("#/components/schemas/"))
                    .cloned()
            })
        } else {
            Err(format!("unexpected path {p}"))
        }
    }
}

fn http_config() -> HttpConfig {
    HttpConfig {
        request_timeout: Some(Duration::from_secs(10)),
        retry: RetryPolicy {
            base: Duration::from_millis(1),
            max: Duration::from_millis(5),
            jitter: 0.5,
        },
        max_retries: 2,
        max_retry_after: Duration::from_secs(5),
        rate_limit: None,
        ..HttpConfig::default()
    }
}

fn hubspot(server: &MockServer) -> HubSpot {
    HubSpotBuilder::default()
        .with_token(TOKEN)
        .with_client_secret("app-secret-xyz")
        .with_base_url(server.uri())
        .with_http_config(http_config())
        .build()
        .unwrap()
}

fn contact_json(id: &str, email: &str) -> Value {
    json!({
        "id": id,
        "properties": {"email": email, "firstname": "Ann", "lastname": "Lee", "jobtitle": "CTO",
                        "associatedcompanyid": "9001", "hs_timezone": "Europe/Berlin", "lifecyclestage": "lead",
                        "phone": null},
        "createdAt": "2026-11-20T10:00:00.000Z",
        "updatedAt": "2026-11-21T10:00:00.000Z",
        "archived": false
    })
}

#[allow(clippy::needless_pass_by_value)]
fn search_page(results: Vec<Value>) -> Value {
    json!({"total": results.len(), "results": results})
}

#[tokio::test]
async fn contacts_search_create_update() {
    let specs = specs();
    let server = MockServer::start().await;
    let page = search_page(vec![contact_json("501", "ann@acme.io")]);
    specs.contacts.check_schema(
        "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
        &page,
    );
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_partial_json(json!({"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"ann@acme.io"}]}],"limit":1})))
        .respond_with(ResponseTemplate::new(200).set_body_json(&page))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .and(body_partial_json(
            json!({"filterGroups":[{"filters":[{"value":"nobody@acme.io"}]}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_page(vec![])))
        .mount(&server)
        .await;
    let created = contact_json("777", "new@acme.io");
    specs.contacts.check_schema("SimplePublicObject", &created);
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts"))
        .and(body_partial_json(json!({"properties":{"email":"new@acme.io","firstname":"Ann","company":"Acme"},"associations":[]})))
        .respond_with(ResponseTemplate::new(201).set_body_json(&created))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts"))
        .and(body_partial_json(
            json!({"properties":{"email":"ann@acme.io"}}),
        ))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "status":"error","message":"Contact already exists. Existing ID: 501",
            "correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf","category":"CONFLICT"})))
        .mount(&server)
        .await;
    let updated = json!({"id":"501","properties":{"icp_score":"87"},"createdAt":"2026-11-20T10:00:00Z","updatedAt":"2026-11-22T10:00:00Z"});
    specs.contacts.check_schema("SimplePublicObject", &updated);
    Mock::given(method("PATCH"))
        .and(path("/crm/v3/objects/contacts/501"))
        .and(body_partial_json(json!({"properties":{"icp_score":"87"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(&updated))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/501"))
        .and(query_param("properties", "email"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_json("501", "ann@acme.io")))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/crm/v3/objects/contacts/404404"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "status":"error","message":"resource not found","correlationId":"x","category":"OBJECT_NOT_FOUND"})))
        .mount(&server)
        .await;

    let hs = hubspot(&server);
    let ann = EmailAddress::parse("Ann@ACME.io").unwrap();
    let c = hs.find_contact_by_email(&ann).await.unwrap().unwrap();
    assert_eq!(c.crm_id, CrmId::from("501"));
    assert_eq!(c.display_name(), "Ann Lee");
    assert_eq!(c.company_id, Some(CrmId::from("9001")));
    assert_eq!(c.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(c.phone, None);
    assert_eq!(
        c.properties.get("lifecyclestage").map(String::as_str),
        Some("lead")
    );
    let nobody = EmailAddress::parse("nobody@acme.io").unwrap();
    assert!(hs.find_contact_by_email(&nobody).await.unwrap().is_none());

    let new = NewContact {
        email: Some(EmailAddress::parse("new@acme.io").unwrap()),
        first_name: Some("Ann".into()),
        company_name: Some("Acme".into()),
        ..NewContact::default()
    };
    assert_eq!(
        hs.create_contact(&new).await.unwrap().crm_id,
        CrmId::from("777")
    );
    let dup = NewContact {
        email: Some(ann.clone()),
        ..NewContact::default()
    };
    assert_eq!(
        hs.create_contact(&dup).await.unwrap_err().kind(),
        "conflict"
    );
    assert_eq!(
        hs.create_contact(&NewContact::default())
            .await
            .unwrap_err()
            .kind(),
        "invalid_input"
    );
    let props = BTreeMap::from([("icp_score".to_owned(), "87".to_owned())]);
    let c = hs
        .update_contact(&CrmId::from("501"), &props)
        .await
        .unwrap();
    assert_eq!(c.email.to_string(), "ann@acme.io");
    assert_eq!(
        hs.update_contact(&CrmId::from("404404"), &props)
            .await
            .unwrap_err()
            .kind(),
        "not_found"
    );
    let n = assert_all_follow(&server, |r| specs.check(r)).await;
    assert!(n >= 7);
}

#[tokio::test]
async fn companies_associations_tasks_notes() {
    let specs = specs();
    let server = MockServer::start().await;
    let company = json!({"id":"9001","properties":{"name":"Acme","domain":"acme.io","industry":"SOFTWARE",
        "numberofemployees":"120","country":"Germany","description":null},
        "createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-02T00:00:00Z","archived":false});
    specs.companies.check_schema("SimplePublicObject", &company);
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/companies/search"))
        .and(body_partial_json(json!({"filterGroups":[{"filters":[{"propertyName":"domain","operator":"EQ","value":"eu.acme.io"}]}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_page(vec![])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/companies/search"))
        .and(body_partial_json(
            json!({"filterGroups":[{"filters":[{"value":"acme.io"}]}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_page(vec![company.clone()])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/companies/9001"))
        .and(query_param("properties", "numberofemployees"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&company))
        .mount(&server)
        .await;
    let assoc = json!({"status":"COMPLETE","results":[{"associationSpec":{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":279},
        "from":{"id":"501"},"to":{"id":"9001"}}],"startedAt":"2026-11-26T10:00:00Z","completedAt":"2026-11-26T10:00:01Z"});
    specs
        .assoc
        .check_schema("BatchResponsePublicDefaultAssociation", &assoc);
    Mock::given(method("PUT"))
        .and(path(
            "/crm/v4/objects/contact/501/associations/default/company/9001",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(&assoc))
        .expect(2)
        .mount(&server)
        .await;
    let task = json!({"id":"3001","properties":{"hs_task_subject":"Call Ann","hs_task_body":"Re demo",
        "hs_task_status":"NOT_STARTED","hs_timestamp":"2026-11-27T09:00:00Z"},
        "createdAt":"2026-11-26T10:00:00Z","updatedAt":"2026-11-26T10:00:00Z"});
    specs.tasks.check_schema("SimplePublicObject", &task);
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/tasks"))
        .and(body_partial_json(json!({"properties":{"hs_task_subject":"Call Ann","hs_task_status":"NOT_STARTED"},
            "associations":[{"to":{"id":"501"},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":204}]},
                            {"to":{"id":"9001"},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":192}]}]})))
        .respond_with(ResponseTemplate::new(201).set_body_json(&task))
        .expect(1)
        .mount(&server)
        .await;
    let note = json!({"id":"4001","properties":{"hs_note_body":"&lt;b&gt;hi","hs_timestamp":"2026-11-26T10:00:00Z"},
        "createdAt":"2026-11-26T10:00:00Z","updatedAt":"2026-11-26T10:00:00Z"});
    specs.notes.check_schema("SimplePublicObject", &note);
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/notes"))
        .and(body_partial_json(json!({"properties":{"hs_note_body":"&lt;b&gt;hi"},
            "associations":[{"to":{"id":"501"},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":202}]}]})))
        .respond_with(ResponseTemplate::new(201).set_body_json(&note))
        .expect(1)
        .mount(&server)
        .await;
    let assoc_page = json!({"results":[
        {"toObjectId":"3001","associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":203,"label":null}]},
        {"toObjectId":"3002","associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":203,"label":null}]}]});
    specs.assoc.check_schema(
        "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging",
        &assoc_page,
    );
    Mock::given(method("GET"))
        .and(path("/crm/v4/objects/contact/501/associations/task"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&assoc_page))
        .mount(&server)
        .await;
    let batch = json!({"status":"COMPLETE","startedAt":"2026-11-26T10:00:00Z","completedAt":"2026-11-26T10:00:01Z","results":[
        task,
        {"id":"3002","properties":{"hs_task_subject":"Send deck","hs_task_status":"COMPLETED",
          "hs_timestamp":"2026-11-20T09:00:00Z","hs_task_completion_date":"1764000000000"},
         "createdAt":"2026-11-19T10:00:00Z","updatedAt":"2026-11-20T10:00:00Z"}]});
    specs
        .tasks
        .check_schema("BatchResponseSimplePublicObject", &batch);
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/tasks/batch/read"))
        .and(body_partial_json(
            json!({"inputs":[{"id":"3001"},{"id":"3002"}],"propertiesWithHistory":[]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(&batch))
        .mount(&server)
        .await;

    let hs = hubspot(&server);
    let c = hs
        .find_company_by_domain(&Domain::parse("eu.acme.io").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.name, "Acme");
    assert_eq!(c.employee_count, Some(120));
    assert_eq!(
        hs.get_company(&CrmId::from("9001"))
            .await
            .unwrap()
            .country
            .as_deref(),
        Some("Germany")
    );
    hs.associate_contact_company(&CrmId::from("501"), &CrmId::from("9001"))
        .await
        .unwrap();
    hs.associate_contact_company(&CrmId::from("501"), &CrmId::from("9001"))
        .await
        .unwrap();
    let t = hs
        .create_task(&NewTask {
            subject: "Call Ann".into(),
            body: "Re demo".into(),
            due_at: None,
            contact_id: Some(CrmId::from("501")),
            company_id: Some(CrmId::from("9001")),
            owner_id: None,
        })
        .await
        .unwrap();
    assert_eq!(t.crm_id, CrmId::from("3001"));
    let n = hs
        .create_note(&NewNote {
            body: "<b>hi".into(),
            at: chrono::Utc::now(),
            contact_id: Some(CrmId::from("501")),
            company_id: None,
        })
        .await
        .unwrap();
    assert_eq!(n.body, "<b>hi");
    let tasks = hs.tasks_for_contact(&CrmId::from("501")).await.unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].status, TaskStatus::Completed);
    assert!(tasks[0].completed_at.is_some());
    assert_eq!(tasks[1].status, TaskStatus::NotStarted);
    assert_all_follow(&server, |r| specs.check(r)).await;
}

#[tokio::test]
async fn deal_changes_with_cursor() {
    let specs = specs();
    let server = MockServer::start().await;
    let deal = |id: &str, stage: &str, won: &str, closed: &str, ms: &str| {
        json!({"id":id,"properties":{"dealname":"Acme pilot","pipeline":"default",
        "dealstage":stage,"createdate":"2026-11-01T00:00:00Z","hs_lastmodifieddate":ms,"hs_is_closed":closed,"hs_is_closed_won":won},
        "createdAt":"2026-11-01T00:00:00Z","updatedAt":"2026-11-25T00:00:00Z"})
    };
    let page = search_page(vec![
        deal("6002", "closedwon", "true", "true", "2026-11-25T10:00:00Z"),
        deal(
            "6001",
            "appointmentscheduled",
            "false",
            "false",
            "2026-11-24T10:00:00Z",
        ),
    ]);
    specs.contacts.check_schema(
        "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
        &page,
    );
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals/search"))
        .and(body_partial_json(json!({"filterGroups":[{"filters":[{"propertyName":"hs_lastmodifieddate","operator":"GT","value":"1764000000000"}]}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(&page))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v4/objects/deal/6001/associations/contact"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"results":[{"toObjectId":"501","associationTypes":[]}]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v4/objects/deal/6002/associations/contact"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results":[]})))
        .mount(&server)
        .await;
    let hs = hubspot(&server);
    let p = hs.deal_changes(Some("1764000000000")).await.unwrap();
    assert_eq!(p.deals.len(), 2);
    assert_eq!(p.deals[0].deal_id, CrmId::from("6001"));
    assert_eq!(p.deals[0].contact_ids, vec![CrmId::from("501")]);
    assert_eq!(
        p.deals[1].closed,
        Some(salesagent_core::model::DealClosed::Won)
    );
    let expected = chrono::DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
        .unwrap()
        .timestamp_millis()
        .to_string();
    assert_eq!(p.next_cursor.as_deref(), Some(expected.as_str()));
    assert_eq!(
        hs.deal_changes(Some("garbage")).await.unwrap_err().kind(),
        "invalid_input"
    );
    assert_all_follow(&server, |r| specs.check(r)).await;
}

#[tokio::test]
async fn auth_and_rate_limit_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1").set_body_json(json!({
            "status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT",
            "correlationId":"c","policyName":"SECONDLY","category":"RATE_LIMITS"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_page(vec![])))
        .mount(&server)
        .await;
    let hs = hubspot(&server);
    hs.check().await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "status":"error","message":"Authentication credentials not found.","correlationId":"c","category":"INVALID_AUTHENTICATION"})))
        .expect(1)
        .mount(&server)
        .await;
    let hs = hubspot(&server);
    let e = hs.check().await.unwrap_err();
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    assert!(!e.to_string().contains(TOKEN));
}

#[tokio::test]
async fn no_secret_in_debug_or_logs() {
    let (logs, _guard) = common::capture_logs();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let hs = hubspot(&server);
    let _ = hs.check().await;
    let dbg = format!(
        "{hs:?} {:?}",
        HubSpotBuilder::default()
            .with_token(TOKEN)
            .with_client_secret("app-secret-xyz")
    );
    let text = logs.text();
    assert!(text.contains("http_request"), "spans were captured: {text}");
    for secret in [TOKEN, "app-secret-xyz"] {
        assert!(!dbg.contains(secret), "{dbg}");
        assert!(!text.contains(secret), "{text}");
    }
}

#[derive(serde::Deserialize)]
struct Vector {
    secret: String,
    method: String,
    uri: String,
    body: String,
    timestamp: Option<String>,
    expected: String,
    received_uri: Option<String>,
}

#[test]
fn signature_vectors_pass_and_tampering_fails() {
    let Some(text) = common::contract("hubspot/signature-test-vectors.json") else {
        return;
    };
    let doc: Value = serde_json::from_str(&text).unwrap();
    let load = |k: &str| -> Vec<Vector> { serde_json::from_value(doc[k].clone()).unwrap() };
    let (v1, v2, v3) = (load("v1"), load("v2"), load("v3"));
    assert_eq!(v1.len() + v2.len() + v3.len(), 9);
    let secret = |s: &str| SecretString::from(s.to_owned());
    let wrong = secret("wrong-secret");
    for v in &v1 {
        let s = secret(&v.secret);
        verify_v1(&s, v.body.as_bytes(), &v.expected).unwrap();
        assert!(verify_v1(&wrong, v.body.as_bytes(), &v.expected).is_err());
        assert!(verify_v1(&s, format!("{} ", v.body).as_bytes(), &v.expected).is_err());
        assert!(verify_v1(&s, v.body.as_bytes(), &v.expected[..v.expected.len() - 1]).is_err());
        // Through the header-driven entry point (no version header = v1).
        let req = WebhookRequest::from_headers(
            &v.method,
            &v.uri,
            v.body.as_bytes(),
            [("X-HubSpot-Signature", v.expected.as_str())],
        );
        assert_eq!(
            webhook::verify(&s, &req, chrono::Utc::now()).unwrap(),
            SignatureVersion::V1
        );
    }
    for v in &v2 {
        let s = secret(&v.secret);
        verify_v2(&s, &v.method, &v.uri, v.body.as_bytes(), &v.expected).unwrap();
        assert!(verify_v2(&wrong, &v.method, &v.uri, v.body.as_bytes(), &v.expected).is_err());
        assert!(verify_v2(&s, &v.method, &v.uri, b"{\"changed\":1}", &v.expected).is_err());
        assert!(
            verify_v2(
                &s,
                &v.method,
                &format!("{}x", v.uri),
                v.body.as_bytes(),
                &v.expected
            )
            .is_err()
        );
        assert!(verify_v2(&s, &v.method, &v.uri, v.body.as_bytes(), &v.expected[..32]).is_err());
        let req = WebhookRequest::from_headers(
            &v.method,
            &v.uri,
            v.body.as_bytes(),
            [
                ("x-hubspot-signature", v.expected.as_str()),
                ("X-HubSpot-Signature-Version", "v2"),
            ],
        );
        assert_eq!(
            webhook::verify(&s, &req, chrono::Utc::now()).unwrap(),
            SignatureVersion::V2
        );
    }
    for v in &v3 {
        let s = secret(&v.secret);
        let ts = v.timestamp.clone().unwrap();
        let ms: i64 = ts.parse().unwrap();
        let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap();
        let fresh = at(ms + 1000);
        for uri in [Some(&v.uri), v.received_uri.as_ref()]
            .into_iter()
            .flatten()
        {
            verify_v3(
                &s,
                &v.method,
                uri,
                v.body.as_bytes(),
                &ts,
                &v.expected,
                fresh,
            )
            .unwrap();
        }
        assert!(
            verify_v3(
                &wrong,
                &v.method,
                &v.uri,
                v.body.as_bytes(),
                &ts,
                &v.expected,
                fresh
            )
            .is_err()
        );
        assert!(verify_v3(&s, &v.method, &v.uri, b"tampered", &ts, &v.expected, fresh).is_err());
        let stale = at(ms + 300_001);
        assert!(
            verify_v3(
                &s,
                &v.method,
                &v.uri,
                v.body.as_bytes(),
                &ts,
                &v.expected,
                stale
            )
            .is_err()
        );
        assert!(
            verify_v3(
                &s,
                &v.method,
                &v.uri,
                v.body.as_bytes(),
                &ts,
                &v.expected,
                at(ms + 300_000)
            )
            .is_ok()
        );
        assert!(
            verify_v3(
                &s,
                &v.method,
                &v.uri,
                v.body.as_bytes(),
                &ts,
                &v.expected[..43],
                fresh
            )
            .is_err()
        );
        assert!(
            verify_v3(
                &s,
                &v.method,
                &v.uri,
                v.body.as_bytes(),
                &ts,
                &v.expected[..20],
                fresh
            )
            .is_err()
        );
        // A different timestamp header (replay with a new time) fails.
        assert!(
            verify_v3(
                &s,
                &v.method,
                &v.uri,
                v.body.as_bytes(),
                &(ms + 1).to_string(),
                &v.expected,
                fresh
            )
            .is_err()
        );
        let req = WebhookRequest::from_headers(
            &v.method,
            &v.uri,
            v.body.as_bytes(),
            [
                ("X-HubSpot-Signature-V3", v.expected.as_str()),
                ("X-HubSpot-Request-Timestamp", ts.as_str()),
                // An older header next to v3 is ignored in favour of v3.
                ("X-HubSpot-Signature", "00"),
            ],
        );
        assert_eq!(
            webhook::verify(&s, &req, fresh).unwrap(),
            SignatureVersion::V3
        );
        assert!(webhook::verify(&s, &req, stale).is_err());
    }
}

#[tokio::test]
async fn webhook_events_become_submissions() {
    let Some(text) = common::contract("hubspot/signature-test-vectors.json") else {
        return;
    };
    let doc: Value = serde_json::from_str(&text).unwrap();
    // The example event batch from WEBHOOKS.md (also v1 vector 1) plus a v3 property-change batch.
    let creation = doc["v1"][0]["body"].as_str().unwrap();
    let change = doc["v3"][2]["body"].as_str().unwrap();
    let now = chrono::Utc::now();
    let p = parse_payload(creation, now).unwrap();
    assert_eq!(p.events.len(), 1);
    let e = &p.events[0];
    assert_eq!(e.object_id, "123");
    assert_eq!(e.idempotency_key(), "hubspot-event:12345:1");
    assert_eq!(
        e.raw,
        creation.trim_start_matches('[').trim_end_matches(']')
    );
    let p = parse_payload(change, now).unwrap();
    assert_eq!(
        p.events[0].property_value.as_deref(),
        Some("zoë@example.com")
    );
    let mixed = r#"[{"eventId":2,"subscriptionId":5,"portalId":1,"occurredAt":1564113600000,"subscriptionType":"company.creation","attemptNumber":0,"objectId":9,"changeSource":"CRM"},
                    {"eventId":3,"subscriptionId":5,"portalId":1,"occurredAt":1564113600000,"subscriptionType":"contact.deletion","attemptNumber":0,"objectId":9,"changeSource":"CRM"}]"#;
    let p = parse_payload(mixed, now).unwrap();
    assert_eq!((p.events.len(), p.ignored), (0, 2));

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_json("123", "ann@acme.io")))
        .expect(1)
        .mount(&server)
        .await;
    let hs = hubspot(&server);
    let e = parse_payload(creation, now).unwrap().events.remove(0);
    let s = hs.submission_for_event(&e).await.unwrap();
    assert_eq!(s.lead.email.to_string(), "ann@acme.io");
    assert_eq!(s.idempotency_key, "hubspot-event:12345:1");
    assert_eq!(
        s.source,
        salesagent_core::model::SubmissionSource::HubspotEvent
    );
    assert_eq!(s.submitted_at.timestamp_millis(), 1_564_113_600_000);
    // Signature through the connector (secret from the builder), v1 vector shape.
    let sig = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("app-secret-xyz{creation}").as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let req = WebhookRequest::from_headers(
        "POST",
        "https://x.test/hook",
        creation.as_bytes(),
        [
            ("X-HubSpot-Signature", sig.as_str()),
            ("X-HubSpot-Signature-Version", "v1"),
        ],
    );
    assert_eq!(hs.verify_webhook(&req).unwrap(), SignatureVersion::V1);
}

#[tokio::test]
async fn get_contact_by_id_follows_the_spec() {
    let specs = specs();
    let server = MockServer::start().await;
    // Built from the spec's `SimplePublicObjectWithAssociations` (what the GET answers).
    let found = json!({
        "id": "601",
        "properties": {"email": "zoe@delta.io", "firstname": "Zoë", "lastname": "Ng",
                       "jobtitle": "VP Sales", "hs_timezone": "America/New_York",
                       "associatedcompanyid": "42", "lifecyclestage": "lead"},
        "createdAt": "2026-11-20T10:00:00.000Z",
        "updatedAt": "2026-11-21T10:00:00.000Z",
        "archived": false
    });
    specs
        .contacts
        .check_schema("SimplePublicObjectWithAssociations", &found);
    let mut get = Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/601"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()));
    for p in [
        "email",
        "firstname",
        "lastname",
        "jobtitle",
        "phone",
        "associatedcompanyid",
        "hs_timezone",
    ] {
        get = get.and(query_param("properties", p));
    }
    get.respond_with(ResponseTemplate::new(200).set_body_json(&found))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/404404"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "status":"error","message":"resource not found","correlationId":"x","category":"OBJECT_NOT_FOUND"})))
        .expect(1)
        .mount(&server)
        .await;

    let hs = hubspot(&server);
    let c = hs.get_contact(&CrmId::from("601")).await.unwrap();
    assert_eq!(c.crm_id, CrmId::from("601"));
    assert_eq!(c.email.to_string(), "zoe@delta.io");
    assert_eq!(c.display_name(), "Zoë Ng");
    assert_eq!(c.job_title.as_deref(), Some("VP Sales"));
    assert_eq!(c.time_zone.as_deref(), Some("America/New_York"));
    assert_eq!(c.company_id, Some(CrmId::from("42")));
    assert_eq!(
        c.properties.get("lifecyclestage").map(String::as_str),
        Some("lead")
    );
    let e = hs.get_contact(&CrmId::from("404404")).await.unwrap_err();
    assert_eq!(e.kind(), "not_found", "{e}");
    assert!(!e.is_retryable());
    assert_eq!(assert_all_follow(&server, |r| specs.check(r)).await, 2);

    // The event job payload carries what the worker needs to read this contact.
    let now = chrono::DateTime::from_timestamp_millis(1_564_113_700_000).unwrap();
    let body = r#"[{"eventId":7,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":601,"changeSource":"FORM","appId":54321}]"#;
    let event = parse_payload(body, now).unwrap().events.remove(0);
    let job = event.to_job_payload();
    assert_eq!(job.contact_id, CrmId::from("601"));
    assert_eq!(job.idempotency_key, "hubspot-event:12345:7");
    assert_eq!(
        job.occurred_at.map(|t| t.timestamp_millis()),
        Some(1_564_113_600_000)
    );
    assert_eq!(job.raw, event.raw);
    let s = event.to_submission(&c, now).unwrap();
    assert_eq!(s.lead.email.to_string(), "zoe@delta.io");
    assert_eq!(s.raw, event.raw);
}

#[tokio::test]
async fn gdpr_erase_posts_the_contacts_gdpr_delete_by_email() {
    let specs = specs();
    let server = MockServer::start().await;
    let body = json!({"objectId": "ann@acme.io", "idProperty": "email"});
    specs.contacts.check_schema("PublicGdprDeleteInput", &body);
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/gdpr-delete"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_partial_json(body))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let hs = hubspot(&server);
    hs.erase_contact(&salesagent_core::model::EmailAddress::parse("ann@acme.io").unwrap())
        .await
        .unwrap();
}
