//! The core conformance suites run against every connector over small stateful mock servers.
//! Each mock speaks the wire format of the contracts (responses shaped by their schemas), and
//! every request the connectors send is checked against the contracts afterwards.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::spec::{Discovery, OpenApi, assert_all_follow};
use salesagent_connectors::calendar::GoogleCalendar;
use salesagent_connectors::drive::GoogleDrive;
use salesagent_connectors::gmail::Gmail;
use salesagent_connectors::gmail::parse::parse_mail;
use salesagent_connectors::http::{Authorizer, HttpConfig, RetryPolicy, StaticBearer};
use salesagent_connectors::hubspot::HubSpot;
use salesagent_connectors::openai::OpenAi;
use salesagent_core::model::{CrmId, Domain, FileId, MessageId};
use salesagent_core::testing::conformance;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn http_config() -> HttpConfig {
    HttpConfig {
        retry: RetryPolicy {
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
            jitter: 0.5,
        },
        max_retries: 1,
        max_retry_after: Duration::from_secs(1),
        rate_limit: None,
        ..HttpConfig::default()
    }
}

fn auth() -> Arc<dyn Authorizer> {
    Arc::new(StaticBearer::new(
        "google",
        SecretString::from("ya29.conformance"),
    ))
}

fn body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn query(r: &Request) -> Vec<(String, String)> {
    r.url.query_pairs().into_owned().collect()
}

fn q1(r: &Request, k: &str) -> Option<String> {
    query(r).into_iter().find(|(n, _)| n == k).map(|(_, v)| v)
}

fn segs(r: &Request) -> Vec<String> {
    r.url
        .path_segments()
        .map(|s| {
            s.map(|x| {
                url::form_urlencoded::parse(format!("x={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
            .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------- HubSpot

#[derive(Default)]
struct HubSpotState {
    next: u64,
    objects: BTreeMap<String, BTreeMap<String, Value>>, // kind -> id -> SimplePublicObject
    task_links: Vec<(String, String)>,                  // (contact, task)
    clock: i64,
}

struct HubSpotMock(Mutex<HubSpotState>);

fn hs_error(status: u16, category: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"status":"error","message":message,
        "correlationId":"00000000-0000-0000-0000-000000000000","category":category}))
}

impl HubSpotState {
    fn stamp(&mut self) -> String {
        self.clock += 1000;
        chrono::DateTime::from_timestamp_millis(1_767_225_600_000 + self.clock)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    fn create(&mut self, kind: &str, props: &serde_json::Map<String, Value>) -> Value {
        self.next += 1;
        let id = (1000 + self.next).to_string();
        let now = self.stamp();
        let mut p = props.clone();
        p.insert("hs_object_id".into(), json!(id));
        let o = json!({"id": id, "properties": p, "createdAt": now, "updatedAt": now, "archived": false});
        self.objects
            .entry(kind.into())
            .or_default()
            .insert(id, o.clone());
        o
    }

    fn search(&self, kind: &str, req: &Value) -> Vec<Value> {
        let filters = req["filterGroups"][0]["filters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let limit = req["limit"].as_u64().unwrap_or(10) as usize;
        let mut hits: Vec<Value> = self
            .objects
            .get(kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        hits.retain(|o| {
            filters.iter().all(|f| {
                let prop = o["properties"][f["propertyName"].as_str().unwrap_or("")]
                    .as_str()
                    .unwrap_or("");
                let v = f["value"].as_str().unwrap_or("");
                match f["operator"].as_str() {
                    Some("EQ") => prop.eq_ignore_ascii_case(v),
                    Some("GT") => prop > v,
                    _ => false,
                }
            })
        });
        hits.truncate(limit);
        hits
    }
}

impl Respond for HubSpotMock {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let mut st = self.0.lock().unwrap();
        let s = segs(r);
        let s: Vec<&str> = s.iter().map(String::as_str).collect();
        let m = r.method.as_str();
        match (m, s.as_slice()) {
            ("POST", ["crm", "v3", "objects", kind, "search"]) => {
                let results = st.search(kind, &body(r));
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": results.len(), "results": results}))
            }
            ("POST", ["crm", "v3", "objects", kind, "batch", "read"]) => {
                let b = body(r);
                let results: Vec<Value> = b["inputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|i| st.objects.get(*kind)?.get(i["id"].as_str()?).cloned())
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"status":"COMPLETE","results":results,
                    "startedAt":"2026-01-01T00:00:00Z","completedAt":"2026-01-01T00:00:01Z"}))
            }
            ("POST", ["crm", "v3", "objects", kind]) => {
                let b = body(r);
                let props = b["properties"].as_object().cloned().unwrap_or_default();
                if *kind == "contacts" {
                    let email = props.get("email").and_then(Value::as_str).unwrap_or("");
                    let dup = st.objects.get("contacts").is_some_and(|c| {
                        c.values().any(|o| {
                            o["properties"]["email"]
                                .as_str()
                                .is_some_and(|e| e.eq_ignore_ascii_case(email))
                        })
                    });
                    if dup {
                        return hs_error(409, "CONFLICT", "Contact already exists. Existing ID: 1");
                    }
                }
                let o = st.create(kind, &props);
                if *kind == "tasks" {
                    for a in b["associations"].as_array().into_iter().flatten() {
                        if a["types"][0]["associationTypeId"] == 204 {
                            st.task_links.push((
                                a["to"]["id"].as_str().unwrap().to_owned(),
                                o["id"].as_str().unwrap().to_owned(),
                            ));
                        }
                    }
                }
                ResponseTemplate::new(201).set_body_json(o)
            }
            ("PATCH", ["crm", "v3", "objects", kind, id]) => {
                let b = body(r);
                let stamp = st.stamp();
                let Some(o) = st.objects.get_mut(*kind).and_then(|k| k.get_mut(*id)) else {
                    return hs_error(404, "OBJECT_NOT_FOUND", "resource not found");
                };
                for (k, v) in b["properties"].as_object().unwrap() {
                    o["properties"][k] = v.clone();
                }
                o["updatedAt"] = json!(stamp);
                ResponseTemplate::new(200).set_body_json(o.clone())
            }
            ("GET", ["crm", "v3", "objects", kind, id]) => {
                match st.objects.get(*kind).and_then(|k| k.get(*id)) {
                    Some(o) => ResponseTemplate::new(200).set_body_json(o),
                    None => hs_error(404, "OBJECT_NOT_FOUND", "resource not found"),
                }
            }
            (
                "PUT",
                [
                    "crm",
                    "v4",
                    "objects",
                    "contact",
                    cid,
                    "associations",
                    "default",
                    "company",
                    coid,
                ],
            ) => {
                let (cid, coid) = ((*cid).to_owned(), (*coid).to_owned());
                if st
                    .objects
                    .get("companies")
                    .and_then(|c| c.get(&coid))
                    .is_none()
                {
                    return hs_error(404, "OBJECT_NOT_FOUND", "company not found");
                }
                let Some(c) = st.objects.get_mut("contacts").and_then(|c| c.get_mut(&cid)) else {
                    return hs_error(404, "OBJECT_NOT_FOUND", "contact not found");
                };
                c["properties"]["associatedcompanyid"] = json!(coid);
                ResponseTemplate::new(200).set_body_json(json!({"status":"COMPLETE","results":[{"associationSpec":
                    {"associationCategory":"HUBSPOT_DEFINED","associationTypeId":279},"from":{"id":cid},"to":{"id":coid}}],
                    "startedAt":"2026-01-01T00:00:00Z","completedAt":"2026-01-01T00:00:01Z"}))
            }
            (
                "GET",
                [
                    "crm",
                    "v4",
                    "objects",
                    "contact",
                    cid,
                    "associations",
                    "task",
                ],
            ) => {
                let results: Vec<Value> = st
                    .task_links
                    .iter()
                    .filter(|(c, _)| c == cid)
                    .map(|(_, t)| json!({"toObjectId": t, "associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":203}]}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({"results": results}))
            }
            ("GET", ["crm", "v4", "objects", "deal", _, "associations", "contact"]) => {
                ResponseTemplate::new(200).set_body_json(json!({"results": []}))
            }
            _ => ResponseTemplate::new(404)
                .set_body_string(format!("mock: no route for {m} {}", r.url.path())),
        }
    }
}

#[tokio::test]
async fn hubspot_passes_the_crm_suite() {
    let specs: Vec<OpenApi> = ["contacts", "companies", "tasks", "notes", "associations-v4"]
        .iter()
        .map(|n| OpenApi::load(&format!("hubspot/crm-{n}.openapi.json")))
        .collect();
    let server = MockServer::start().await;
    let mut st = HubSpotState::default();
    let company = st.create(
        "companies",
        json!({"name":"Conformance Inc","domain":"conformance-co.example"})
            .as_object()
            .unwrap(),
    );
    let deal = st.create(
        "deals",
        json!({"dealname":"Pilot","pipeline":"default","dealstage":"appointmentscheduled",
        "hs_lastmodifieddate":"2026-01-02T00:00:00.000Z","createdate":"2026-01-01T00:00:00.000Z"})
        .as_object()
        .unwrap(),
    );
    Mock::given(any())
        .respond_with(HubSpotMock(Mutex::new(st)))
        .mount(&server)
        .await;
    let hs = HubSpot::builder()
        .with_token("pat-conformance")
        .with_base_url(server.uri())
        .with_http_config(http_config())
        .build()
        .unwrap();
    let fixture = conformance::crm::CrmFixture {
        known_company: Some((
            Domain::parse("conformance-co.example").unwrap(),
            CrmId::new(company["id"].as_str().unwrap()),
        )),
        known_deal: Some(CrmId::new(deal["id"].as_str().unwrap())),
        ..conformance::crm::CrmFixture::default()
    };
    conformance::crm::run(&hs, &fixture).await;
    let n = assert_all_follow(&server, |r| {
        let p = r.url.path();
        if p.starts_with("/crm/v3/objects/deals") {
            return Ok(()); // deals are not in the contracts (search body checked in hubspot.rs)
        }
        let spec = if p.starts_with("/crm/v4") {
            &specs[4]
        } else if p.contains("/contacts") {
            &specs[0]
        } else if p.contains("/companies") {
            &specs[1]
        } else if p.contains("/tasks") {
            &specs[2]
        } else {
            &specs[3]
        };
        spec.check_request(r)
    })
    .await;
    assert!(n > 10);
}

// ---------------------------------------------------------------- Gmail

struct GMsg {
    id: String,
    thread: String,
    raw: Vec<u8>,
    labels: Vec<String>,
    internal: i64,
    history: u64,
    /// Search lag: hidden from `messages.list` until that many lists have been answered.
    listed_from: u64,
}

#[derive(Default)]
struct GmailState {
    messages: Vec<GMsg>,
    history: u64,
    next: u64,
    lists: u64,
}

struct GmailMock(Mutex<GmailState>);

fn google_error(status: u16, reason: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error":{"code":status,"message":message,
        "errors":[{"message":message,"domain":"global","reason":reason}]}}))
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let rest = &s[i..];
    Some(rest.find(end).map_or(rest, |j| &rest[..j]))
}

fn matches_q(m: &GMsg, q: &str) -> bool {
    let parsed = parse_mail(&m.raw, "x".into(), None, vec![], None);
    if let Some(id) = between(q, "rfc822msgid:", " ")
        && parsed.message_id.as_ref().map(MessageId::as_str) != Some(id)
    {
        return false;
    }
    if q.contains("in:sent") && !m.labels.iter().any(|l| l == "SENT") {
        return false;
    }
    if let Some(addr) = between(q, "(from:", " OR") {
        let hit = parsed.from.as_ref().is_some_and(|f| f.normalized() == addr)
            || parsed.to.iter().any(|t| t.normalized() == addr);
        if !hit {
            return false;
        }
    }
    true
}

impl GmailState {
    fn add(&mut self, raw: Vec<u8>, thread: Option<String>, label: &str) -> &GMsg {
        self.next += 1;
        self.history += 1;
        let id = format!("18c{:013x}", self.next);
        let thread = thread.unwrap_or_else(|| id.clone());
        self.messages.push(GMsg {
            id,
            thread,
            raw,
            labels: vec![label.to_owned()],
            internal: 1_772_445_600_000 + i64::try_from(self.next).unwrap() * 1000,
            history: self.history,
            listed_from: 0,
        });
        self.messages.last().unwrap()
    }
}

fn gmsg_ref(m: &GMsg) -> Value {
    json!({"id": m.id, "threadId": m.thread})
}

impl Respond for GmailMock {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let mut st = self.0.lock().unwrap();
        let s = segs(r);
        let s: Vec<&str> = s.iter().map(String::as_str).collect();
        match (r.method.as_str(), s.as_slice()) {
            ("GET", ["gmail", "v1", "users", "me", "profile"]) => ResponseTemplate::new(200).set_body_json(json!({
                "emailAddress":"seller@salesagent.example","messagesTotal":st.messages.len(),"threadsTotal":1,
                "historyId": st.history.to_string()})),
            ("GET", ["gmail", "v1", "users", "me", "messages"]) => {
                let q = q1(r, "q").unwrap_or_default();
                let label = q1(r, "labelIds");
                let max: usize = q1(r, "maxResults").and_then(|m| m.parse().ok()).unwrap_or(100);
                let offset: usize = q1(r, "pageToken").and_then(|m| m.parse().ok()).unwrap_or(0);
                st.lists += 1;
                let lists = st.lists;
                let mut hits: Vec<&GMsg> = st
                    .messages
                    .iter()
                    .filter(|m| m.listed_from < lists)
                    .filter(|m| label.as_ref().is_none_or(|l| m.labels.contains(l)))
                    .filter(|m| matches_q(m, &q))
                    .collect();
                hits.reverse(); // newest first
                let total = hits.len();
                let page: Vec<Value> = hits.into_iter().skip(offset).take(max).map(gmsg_ref).collect();
                let mut out = json!({"resultSizeEstimate": total});
                if !page.is_empty() {
                    out["messages"] = json!(page);
                }
                if offset + max < total {
                    out["nextPageToken"] = json!((offset + max).to_string());
                }
                ResponseTemplate::new(200).set_body_json(out)
            }
            ("GET", ["gmail", "v1", "users", "me", "messages", id]) => match st.messages.iter().find(|m| m.id == *id) {
                Some(m) => ResponseTemplate::new(200).set_body_json(json!({"id":m.id,"threadId":m.thread,"labelIds":m.labels,
                    "internalDate":m.internal.to_string(),"historyId":m.history.to_string(),"sizeEstimate":m.raw.len(),
                    "raw":URL_SAFE_NO_PAD.encode(&m.raw)})),
                None => google_error(404, "notFound", "Requested entity was not found."),
            },
            ("GET", ["gmail", "v1", "users", "me", "threads", id]) => {
                let msgs: Vec<Value> = st.messages.iter().filter(|m| m.thread == *id).map(gmsg_ref).collect();
                if msgs.is_empty() {
                    google_error(404, "notFound", "Requested entity was not found.")
                } else {
                    ResponseTemplate::new(200).set_body_json(json!({"id": id, "messages": msgs}))
                }
            }
            ("POST", ["gmail", "v1", "users", "me", "messages", "send"]) => {
                let b = body(r);
                let raw = URL_SAFE_NO_PAD.decode(b["raw"].as_str().unwrap()).unwrap();
                let m = st.add(raw, b["threadId"].as_str().map(str::to_owned), "SENT");
                ResponseTemplate::new(200).set_body_json(json!({"id":m.id,"threadId":m.thread,"labelIds":m.labels}))
            }
            ("POST", ["gmail", "v1", "users", "me", "drafts"]) => {
                let b = body(r);
                let raw = URL_SAFE_NO_PAD.decode(b["message"]["raw"].as_str().unwrap()).unwrap();
                let m = st.add(raw, b["message"]["threadId"].as_str().map(str::to_owned), "DRAFT");
                ResponseTemplate::new(200).set_body_json(json!({"id": format!("r-{}", m.id),
                    "message": {"id":m.id,"threadId":m.thread,"labelIds":m.labels}}))
            }
            // The guide: sending deletes the draft and creates a SENT message with a new id. That
            // message shows in searches only after two more lists (a search lag the suite's
            // polling must ride out).
            ("POST", ["gmail", "v1", "users", "me", "drafts", "send"]) => {
                let b = body(r);
                let draft = b["id"].as_str().and_then(|d| d.strip_prefix("r-")).unwrap_or("");
                let Some(i) = st.messages.iter().position(|m| m.id == draft && m.labels == ["DRAFT"]) else {
                    return google_error(404, "notFound", "Requested entity was not found.");
                };
                let d = st.messages.remove(i);
                let lag_until = st.lists + 2;
                let m = st.add(d.raw, Some(d.thread), "SENT");
                let out = json!({"id":m.id,"threadId":m.thread,"labelIds":m.labels});
                if let Some(m) = st.messages.last_mut() {
                    m.listed_from = lag_until;
                }
                ResponseTemplate::new(200).set_body_json(out)
            }
            ("GET", ["gmail", "v1", "users", "me", "history"]) => {
                let start: u64 = q1(r, "startHistoryId").and_then(|s| s.parse().ok()).unwrap_or(0);
                let history: Vec<Value> = st
                    .messages
                    .iter()
                    .filter(|m| m.history > start)
                    .map(|m| json!({"id": m.history.to_string(), "messagesAdded":[{"message": {"id":m.id,"threadId":m.thread,"labelIds":m.labels}}]}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({"history": history, "historyId": st.history.to_string()}))
            }
            _ => ResponseTemplate::new(404).set_body_string(format!("mock: no route for {}", r.url.path())),
        }
    }
}

#[tokio::test]
async fn gmail_passes_the_mailbox_suite() {
    let disc = Discovery::load("google/gmail.v1.discovery.json");
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(GmailMock(Mutex::new(GmailState {
            history: 100,
            ..GmailState::default()
        })))
        .mount(&server)
        .await;
    let gmail = Gmail::builder()
        .with_base_url(server.uri())
        .with_authorizer(auth())
        .with_http_config(http_config())
        .build()
        .unwrap();
    let fixture = conformance::mailbox::MailboxFixture {
        search_lag: conformance::mailbox::SearchLag::real_time(Duration::from_millis(30), 3),
        ..conformance::mailbox::MailboxFixture::default()
    };
    conformance::mailbox::run(&gmail, &fixture).await;
    let requests = server.received_requests().await.unwrap();
    let draft_sends = requests
        .iter()
        .filter(|r| r.url.path().ends_with("/drafts/send"))
        .count();
    assert_eq!(draft_sends, 3, "the suite's draft-send part ran");
    assert!(assert_all_follow(&server, |r| disc.check_request(r)).await > 10);
}

// ---------------------------------------------------------------- Outbox

#[tokio::test]
async fn outbox_passes_the_mailbox_suite() {
    let dir = std::env::temp_dir().join(format!("outbox-conformance-{}", uuid::Uuid::new_v4()));
    let outbox = salesagent_connectors::outbox::Outbox::open(&dir).unwrap();
    let fixture = conformance::mailbox::MailboxFixture::default();
    conformance::mailbox::run(&outbox, &fixture).await;
    // Reused: a second run uses fresh addresses.
    conformance::mailbox::run(&outbox, &fixture).await;
    let files = |folder: &str| std::fs::read_dir(dir.join(folder)).unwrap().count();
    // Per run: two sends and one sent draft in sent/, one unsent draft left in drafts/.
    assert_eq!((files("sent"), files("drafts"), files("tmp")), (6, 2, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------- Drive

struct DriveMock {
    files: Vec<(Value, Option<String>)>, // File resource, text content
}

fn drive_q_matches(file: &Value, text: Option<&str>, q: &str) -> bool {
    let name = file["name"].as_str().unwrap_or("");
    let mime = file["mimeType"].as_str().unwrap_or("");
    if let Some(term) = between(q, "fullText contains '", "'") {
        let in_text = text.is_some_and(|t| t.contains(term));
        if !in_text && !name.contains(term) {
            return false;
        }
    }
    if let Some(part) = between(q, "name contains '", "'")
        && !name.contains(part)
    {
        return false;
    }
    if q.contains("mimeType = '") {
        let wanted: Vec<&str> = q
            .split("mimeType = '")
            .skip(1)
            .filter_map(|p| p.split('\'').next())
            .collect();
        if !wanted.contains(&mime) {
            return false;
        }
    }
    true
}

impl Respond for DriveMock {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let s = segs(r);
        let s: Vec<&str> = s.iter().map(String::as_str).collect();
        let find = |id: &str| self.files.iter().find(|(f, _)| f["id"] == id);
        match s.as_slice() {
            ["drive", "v3", "files"] => {
                let q = q1(r, "q").unwrap_or_default();
                let size: usize = q1(r, "pageSize")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(100);
                let files: Vec<Value> = self
                    .files
                    .iter()
                    .filter(|(f, t)| drive_q_matches(f, t.as_deref(), &q))
                    .take(size)
                    .map(|(f, _)| f.clone())
                    .collect();
                ResponseTemplate::new(200).set_body_json(
                    json!({"kind":"drive#fileList","incompleteSearch":false,"files":files}),
                )
            }
            ["drive", "v3", "files", id, "export"] => match find(id) {
                Some((_, Some(t))) => ResponseTemplate::new(200).set_body_string(t.clone()),
                Some(_) => google_error(
                    403,
                    "fileNotExportable",
                    "Export only supports Docs Editors files.",
                ),
                None => google_error(404, "notFound", "File not found."),
            },
            ["drive", "v3", "files", id] => match (find(id), q1(r, "alt").as_deref()) {
                (Some((_, Some(t))), Some("media")) => {
                    ResponseTemplate::new(200).set_body_string(t.clone())
                }
                (Some((f, _)), None) => ResponseTemplate::new(200).set_body_json(f),
                (Some(_), _) => google_error(
                    403,
                    "cannotDownloadFile",
                    "Only files with binary content can be downloaded.",
                ),
                (None, _) => google_error(404, "notFound", &format!("File not found: {id}.")),
            },
            _ => ResponseTemplate::new(404),
        }
    }
}

#[tokio::test]
async fn drive_passes_the_drive_suite() {
    let disc = Discovery::load("google/drive.v3.discovery.json");
    let doc = json!({"id":"1AbcDoc","name":"Onboarding case study","mimeType":"application/vnd.google-apps.document",
        "webViewLink":"https://docs.google.com/document/d/1AbcDoc/edit","modifiedTime":"2026-02-01T10:00:00.000Z"});
    let pdf =
        json!({"id":"1AbcPdf","name":"Price list.pdf","mimeType":"application/pdf","size":"48213"});
    disc.check_schema("File", &doc);
    disc.check_schema("File", &pdf);
    let text = "Acme cut onboarding time by 40 %. Grüße aus Köln — naïve café.".to_owned();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(DriveMock {
            files: vec![(doc, Some(text)), (pdf, None)],
        })
        .mount(&server)
        .await;
    let drive = GoogleDrive::builder()
        .with_base_url(server.uri())
        .with_authorizer(auth())
        .with_http_config(http_config())
        .build()
        .unwrap();
    let fixture = conformance::drive::DriveFixture {
        text_file: Some((
            FileId::from("1AbcDoc"),
            "onboarding".into(),
            "Grüße aus Köln".into(),
        )),
        binary_file: Some(FileId::from("1AbcPdf")),
        ..conformance::drive::DriveFixture::default()
    };
    conformance::drive::run(&drive, &fixture).await;
    assert_all_follow(&server, |r| disc.check_request(r)).await;
}

// ---------------------------------------------------------------- Calendar

#[derive(Default)]
struct CalendarMock(Mutex<Vec<Value>>);

fn ev_time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v["dateTime"].as_str().unwrap())
        .unwrap()
        .to_utc()
}

impl Respond for CalendarMock {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let mut events = self.0.lock().unwrap();
        let s = segs(r);
        let s: Vec<&str> = s.iter().map(String::as_str).collect();
        let t = |v: &str| chrono::DateTime::parse_from_rfc3339(v).unwrap().to_utc();
        match (r.method.as_str(), s.as_slice()) {
            ("POST", ["calendar", "v3", "calendars", "primary", "events"]) => {
                let mut e = body(r);
                e["id"] = json!(format!("ev{}", events.len() + 1));
                e["created"] = json!("2026-03-01T10:00:00.000Z");
                e["updated"] = json!("2026-03-01T10:00:00.000Z");
                for a in e["attendees"].as_array_mut().into_iter().flatten() {
                    a["responseStatus"] = json!("needsAction");
                }
                events.push(e.clone());
                ResponseTemplate::new(200).set_body_json(e)
            }
            ("GET", ["calendar", "v3", "calendars", "primary", "events"]) => {
                let (min, max) = (t(&q1(r, "timeMin").unwrap()), t(&q1(r, "timeMax").unwrap()));
                let items: Vec<Value> = events
                    .iter()
                    .filter(|e| ev_time(&e["start"]) < max && ev_time(&e["end"]) > min)
                    .cloned()
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"kind":"calendar#events","items":items}))
            }
            ("POST", ["calendar", "v3", "freeBusy"]) => {
                let b = body(r);
                let (min, max) = (
                    t(b["timeMin"].as_str().unwrap()),
                    t(b["timeMax"].as_str().unwrap()),
                );
                let busy: Vec<Value> = events
                    .iter()
                    .filter(|e| e["status"] != "cancelled")
                    .filter(|e| ev_time(&e["start"]) < max && ev_time(&e["end"]) > min)
                    .map(|e| json!({"start": e["start"]["dateTime"], "end": e["end"]["dateTime"]}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(
                    json!({"kind":"calendar#freeBusy","timeMin":b["timeMin"],"timeMax":b["timeMax"],
                    "calendars":{"primary":{"busy":busy}}}),
                )
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

#[tokio::test]
async fn calendar_passes_the_calendar_suite() {
    let disc = Discovery::load("google/calendar.v3.discovery.json");
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(CalendarMock::default())
        .mount(&server)
        .await;
    let cal = GoogleCalendar::builder()
        .with_base_url(server.uri())
        .with_authorizer(auth())
        .with_http_config(http_config())
        .build()
        .unwrap();
    conformance::calendar::run(&cal, &conformance::calendar::CalendarFixture::default()).await;
    assert_all_follow(&server, |r| disc.check_request(r)).await;
}

// ---------------------------------------------------------------- OpenAI

struct OpenAiMock;

impl Respond for OpenAiMock {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let b = body(r);
        let content = if b["response_format"]["type"] == "json_schema" {
            r#"{"greeting":"Hello, conformance suite!"}"#
        } else {
            "Hello, conformance suite!"
        };
        ResponseTemplate::new(200).set_body_json(json!({"id":"chatcmpl-conformance","object":"chat.completion",
            "created":1741569952,"model":b["model"],"choices":[{"index":0,"message":{"role":"assistant","content":content,
            "refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],
            "usage":{"prompt_tokens":21,"completion_tokens":7,"total_tokens":28}}))
    }
}

#[tokio::test]
async fn openai_passes_the_llm_suite() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v1/chat/completions"))
        .respond_with(OpenAiMock)
        .mount(&server)
        .await;
    let llm = OpenAi::builder()
        .with_api_key("sk-conformance")
        .with_base_url(format!("{}/v1", server.uri()))
        .build()
        .unwrap();
    conformance::llm::run(
        &llm,
        &conformance::llm::LlmFixture {
            structured_output: true,
        },
    )
    .await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "the empty request is refused locally"
    );
}
