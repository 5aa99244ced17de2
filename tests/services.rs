//! Per-service selection (`salesagent::services`) and the `doctor` checks against mock servers.
//! Requests are checked against, and response fixtures taken from, `../shared/contracts`
//! (HubSpot OpenAPI, Google discovery documents, OpenAI's chat example); the validators are the
//! connectors' test helpers.

#[path = "../salesagent-connectors/tests/common/spec.rs"]
mod spec;

use salesagent::services::doctor::{self, Status};
use salesagent::services::{Implementation, Port, ServiceSelector, Services};
use salesagent_core::model::{EmailAddress, OAuthToken};
use salesagent_core::ports::{
    ChatMessage, Clock as _, DynClock, DynStore, LlmRequest, SecretStore as _,
};
use salesagent_core::testing::{ManualClock, MemoryStore};
use secrecy::SecretString;
use serde_json::{Value, json};
use spec::{Discovery, OpenApi};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const ME: &str = "seller@seller.io";
const OPENAI_KEY: &str = "sk-test-services-0123456789";
const HUBSPOT_TOKEN: &str = "pat-na1-services-token";

/// `../shared` next to the workspace (or two levels up from a worktree), when present.
fn shared_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [root.join("../shared"), root.join("../../shared")]
        .into_iter()
        .find(|p| p.is_dir())
}

/// A contract file's text, or `None` (with a notice) when `../shared` is absent.
fn contract(rel: &str) -> Option<String> {
    let Some(dir) = shared_dir() else {
        eprintln!("NOTICE: ../shared not found; skipping the part that needs {rel}");
        return None;
    };
    Some(std::fs::read_to_string(dir.join("contracts").join(rel)).expect("contract file"))
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data")
}

fn lookup(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    move |k| map.get(k).cloned()
}

struct Env {
    clock: ManualClock,
    dyn_clock: DynClock,
    store: DynStore,
    memory: Arc<MemoryStore>,
}

fn env() -> Env {
    let clock = ManualClock::new(ManualClock::default_start());
    let memory = Arc::new(MemoryStore::new(clock.shared()));
    Env {
        dyn_clock: clock.shared(),
        clock,
        store: memory.clone(),
        memory,
    }
}

fn select(e: &Env, vars: &[(&str, String)], offline: bool) -> Services {
    ServiceSelector::from_lookup(lookup(vars))
        .offline(offline)
        .fixtures(data_dir())
        .google_account(ME)
        .http_config(doctor::http_config())
        .select(&e.store, &e.dyn_clock)
        .unwrap()
}

fn implementations(s: &Services) -> Vec<(Port, Implementation)> {
    s.choices
        .iter()
        .map(|c| (c.port, c.implementation))
        .collect()
}

/// The example response of `POST /chat/completions` in the OpenAI spec.
fn chat_response(content: &str) -> Value {
    json!({
      "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
      "object": "chat.completion",
      "created": 1741569952,
      "model": "gpt-test",
      "choices": [{
          "index": 0,
          "message": {"role": "assistant", "content": content, "refusal": null, "annotations": []},
          "logprobs": null,
          "finish_reason": "stop"
      }],
      "usage": {"prompt_tokens": 19, "completion_tokens": 1, "total_tokens": 20},
      "service_tier": "default"
    })
}

/// Fields `CreateChatCompletionRequest` defines that the connector may send.
fn check_chat_request(r: &Request) -> Result<(), String> {
    if r.method.as_str() != "POST" || r.url.path() != "/v1/chat/completions" {
        return Err(format!(
            "{} {}: not the chat endpoint",
            r.method,
            r.url.path()
        ));
    }
    let body: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
    let allowed = [
        "model",
        "messages",
        "response_format",
        "max_completion_tokens",
        "temperature",
        "stream",
    ];
    for k in body.as_object().ok_or("body is not an object")?.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("field {k} is not in CreateChatCompletionRequest"));
        }
    }
    if !body["model"].is_string() || !body["messages"].is_array() {
        return Err("model and messages are required".into());
    }
    Ok(())
}

async fn mount_openai(server: &MockServer, status: u16, body: Value) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header(
            "authorization",
            format!("Bearer {OPENAI_KEY}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(server)
        .await;
}

fn openai_vars(server: &MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_API_KEY", OPENAI_KEY.to_owned()),
        ("OPENAI_BASE_URL", format!("{}/v1", server.uri())),
        ("OPENAI_MODEL", "gpt-test".to_owned()),
    ]
}

fn google_vars(server: &MockServer) -> Vec<(&'static str, String)> {
    vec![
        (
            "GOOGLE_CLIENT_ID",
            "client-id.apps.googleusercontent.com".to_owned(),
        ),
        ("GOOGLE_CLIENT_SECRET", "GOCSPX-client-secret".to_owned()),
        (
            "GOOGLE_REDIRECT_URI",
            "http://127.0.0.1:8080/oauth/callback".to_owned(),
        ),
        ("GOOGLE_TOKEN_URL", format!("{}/token", server.uri())),
        ("GOOGLE_API_BASE_URL", server.uri()),
    ]
}

async fn save_google_token(e: &Env, expires_in: chrono::Duration) {
    e.memory
        .save_token(&OAuthToken {
            account: ME.into(),
            access_token: SecretString::from("ya29.a0Af-services-access"),
            refresh_token: Some(SecretString::from("1//0services-refresh")),
            expires_at: Some(e.clock.shared().now() + expires_in),
            scopes: vec!["https://www.googleapis.com/auth/gmail.modify".into()],
            needs_reauth: false,
        })
        .await
        .unwrap();
}

/// Checks every request against the contract of the service it went to.
struct Contracts {
    contacts: OpenApi,
    gmail: Discovery,
    drive: Discovery,
    calendar: Discovery,
}

impl Contracts {
    fn load() -> Self {
        Self {
            contacts: OpenApi::load("hubspot/crm-contacts.openapi.json"),
            gmail: Discovery::load("google/gmail.v1.discovery.json"),
            drive: Discovery::load("google/drive.v3.discovery.json"),
            calendar: Discovery::load("google/calendar.v3.discovery.json"),
        }
    }

    fn check(&self, r: &Request) -> Result<(), String> {
        let p = r.url.path();
        if p.starts_with("/crm/") {
            self.contacts.check_request(r)
        } else if p.starts_with("/gmail/") {
            self.gmail.check_request(r)
        } else if p.starts_with("/drive/") {
            self.drive.check_request(r)
        } else if p.starts_with("/calendar/") {
            self.calendar.check_request(r)
        } else if p == "/token" {
            let form: HashMap<String, String> = url_form(&r.body);
            (form.get("grant_type").map(String::as_str) == Some("refresh_token")
                && form.contains_key("refresh_token")
                && form.contains_key("client_id")
                && form.contains_key("client_secret"))
            .then_some(())
            .ok_or_else(|| format!("token request {form:?} is not a refresh grant"))
        } else if p.starts_with("/v1/") {
            check_chat_request(r)
        } else {
            Err(format!("unexpected request {} {p}", r.method))
        }
    }

    async fn assert_all_follow(&self, server: &MockServer) -> usize {
        spec::assert_all_follow(server, |r| self.check(r)).await
    }
}

fn url_form(body: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test]
async fn nothing_configured_runs_everything_offline_on_the_fixtures() {
    let e = env();
    let s = select(&e, &[], false);
    assert_eq!(
        implementations(&s),
        Port::ALL
            .iter()
            .map(|p| (*p, Implementation::Offline))
            .collect::<Vec<_>>()
    );
    assert!(s.choices.iter().all(|c| c.problem.is_none()));
    assert_eq!(
        s.choice(Port::Crm).unwrap().to_string(),
        "crm: offline (fixtures) — HUBSPOT_ACCESS_TOKEN is not set"
    );
    assert_eq!(
        s.choice(Port::Llm).unwrap().name,
        "template writer",
        "the LLM falls back to the template writer"
    );
    assert!(s.real.hubspot.is_none() && s.real.openai.is_none() && s.real.gmail.is_none());
    // The offline CRM is seeded from examples/data/contacts.json.
    let contacts: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir().join("contacts.json")).unwrap())
            .unwrap();
    let first = EmailAddress::parse(contacts[0]["email"].as_str().unwrap()).unwrap();
    assert!(s.crm.find_contact_by_email(&first).await.unwrap().is_some());

    // Nothing configured: the doctor checks nothing and reports healthy.
    let report = doctor::run(&s, &e.dyn_clock).await;
    assert!(report.healthy());
    assert!(report.checks.iter().all(|c| c.status == Status::Offline));
}

#[tokio::test]
async fn only_an_openai_compatible_server_makes_only_the_llm_real() {
    let e = env();
    let server = MockServer::start().await;
    mount_openai(&server, 200, chat_response("Hello")).await;
    let s = select(&e, &openai_vars(&server), false);
    assert_eq!(
        implementations(&s),
        vec![
            (Port::Crm, Implementation::Offline),
            (Port::Mailbox, Implementation::Offline),
            (Port::Drive, Implementation::Offline),
            (Port::Calendar, Implementation::Offline),
            (Port::Llm, Implementation::Real),
        ]
    );
    assert_eq!(
        s.choice(Port::Llm).unwrap().to_string(),
        "llm: real (OpenAI-compatible) — OPENAI_API_KEY and OPENAI_BASE_URL set"
    );
    // The selected LLM really talks to the configured server.
    let reply = s
        .llm
        .complete(&LlmRequest {
            purpose: "test".into(),
            messages: vec![ChatMessage::user("Say hello")],
            schema: None,
            max_tokens: Some(5),
            temperature: None,
        })
        .await
        .unwrap();
    assert_eq!(reply.content, "Hello");
    assert_eq!(Contracts::load().assert_all_follow(&server).await, 1);
}

#[tokio::test]
async fn offline_forces_every_port_offline_even_when_configured() {
    let e = env();
    let server = MockServer::start().await;
    let mut vars = openai_vars(&server);
    vars.extend(google_vars(&server));
    vars.push(("HUBSPOT_ACCESS_TOKEN", HUBSPOT_TOKEN.to_owned()));
    let s = select(&e, &vars, true);
    for c in &s.choices {
        assert_eq!(c.implementation, Implementation::Offline, "{c}");
        assert_eq!(c.reason, "--offline");
        assert!(!c.configured());
    }
    let report = doctor::run(&s, &e.dyn_clock).await;
    assert!(report.healthy());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_base_url_without_credentials_is_configured_but_not_usable() {
    let e = env();
    let vars = [
        ("GOOGLE_API_BASE_URL", "http://127.0.0.1:9".to_owned()),
        ("HUBSPOT_BASE_URL", "http://127.0.0.1:9".to_owned()),
    ];
    let s = select(&e, &vars, false);
    for port in [Port::Crm, Port::Mailbox, Port::Drive, Port::Calendar] {
        let c = s.choice(port).unwrap();
        assert_eq!(c.implementation, Implementation::Offline, "{c}");
        assert!(c.configured(), "{c}");
        assert_eq!(c.problem.as_ref().unwrap().kind(), "invalid_input", "{c}");
    }
    assert!(!s.choice(Port::Llm).unwrap().configured());
    let report = doctor::run(&s, &e.dyn_clock).await;
    assert!(!report.healthy());
    assert_eq!(report.failures().count(), 4);
    let crm = &report.checks[0];
    assert_eq!(crm.status, Status::Failed);
    assert_eq!(crm.latency_ms, None);
    assert!(
        crm.detail.contains("HUBSPOT_ACCESS_TOKEN"),
        "{}",
        crm.detail
    );
}

#[tokio::test]
async fn doctor_all_configured_services_healthy() {
    let e = env();
    let server = MockServer::start().await;
    save_google_token(&e, chrono::Duration::hours(1)).await;
    mount_openai(&server, 200, chat_response("ok")).await;
    let contracts = Contracts::load();
    let page = json!({"total": 0, "results": []});
    contracts.contacts.check_schema(
        "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
        &page,
    );
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .and(header(
            "authorization",
            format!("Bearer {HUBSPOT_TOKEN}").as_str(),
        ))
        .and(body_string_contains("\"limit\":1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&page))
        .expect(1)
        .mount(&server)
        .await;
    let profile =
        json!({"emailAddress": ME, "messagesTotal": 120, "threadsTotal": 80, "historyId": "4711"});
    contracts.gmail.check_schema("Profile", &profile);
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/profile"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&profile))
        .expect(1)
        .mount(&server)
        .await;
    let files = json!({"kind": "drive#fileList", "incompleteSearch": false,
        "files": [{"kind": "drive#file", "id": "1AbCdEf", "name": "Case study", "mimeType": "application/pdf"}]});
    contracts.drive.check_schema("FileList", &files);
    Mock::given(method("GET"))
        .and(path("/drive/v3/files"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&files))
        .expect(1)
        .mount(&server)
        .await;
    let fb = json!({"kind": "calendar#freeBusy", "timeMin": "2026-11-30T08:00:00.000Z",
        "timeMax": "2026-11-30T08:01:00.000Z", "calendars": {"primary": {"busy": []}}});
    contracts.calendar.check_schema("FreeBusyResponse", &fb);
    Mock::given(method("POST"))
        .and(path("/calendar/v3/freeBusy"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&fb))
        .expect(1)
        .mount(&server)
        .await;

    let mut vars = openai_vars(&server);
    vars.extend(google_vars(&server));
    vars.push(("HUBSPOT_ACCESS_TOKEN", HUBSPOT_TOKEN.to_owned()));
    vars.push(("HUBSPOT_BASE_URL", server.uri()));
    let s = select(&e, &vars, false);
    assert!(
        s.choices
            .iter()
            .all(|c| c.implementation == Implementation::Real),
        "{:?}",
        s.choices
    );
    let report = doctor::run(&s, &e.dyn_clock).await;
    assert!(report.healthy(), "{}", report.table());
    for c in &report.checks {
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(c.latency_ms.is_some());
        assert_eq!(c.error_kind, None);
    }
    assert_eq!(report.checks[1].detail, format!("profile of {ME}"));
    assert_eq!(report.checks[4].detail, "chat completion with gpt-test");
    // One read per service, nothing else (no token refresh: the token is fresh).
    assert_eq!(contracts.assert_all_follow(&server).await, 5);

    let table = report.table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(lines[0].starts_with("SERVICE") && lines[0].contains("LATENCY"));
    assert!(lines[1].starts_with("HubSpot") && lines[1].contains(" ok "));
}

#[tokio::test]
async fn doctor_reports_reauthorisation_and_rate_limits_and_fails() {
    let e = env();
    let server = MockServer::start().await;
    // Google: the access token is due, and the refresh token was revoked.
    save_google_token(&e, chrono::Duration::seconds(30)).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        ))
        .mount(&server)
        .await;
    // HubSpot: rate limited for two minutes (the error body of HubSpot's rate limits).
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "120")
                .set_body_json(
                    json!({"status": "error", "message": "You have reached your secondly limit.",
                    "errorType": "RATE_LIMIT", "correlationId": "c0ffee", "policyName": "SECONDLY",
                    "category": "RATE_LIMITS"}),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    // OpenAI: healthy.
    mount_openai(&server, 200, chat_response("ok")).await;

    let mut vars = openai_vars(&server);
    vars.extend(google_vars(&server));
    vars.push(("HUBSPOT_ACCESS_TOKEN", HUBSPOT_TOKEN.to_owned()));
    vars.push(("HUBSPOT_BASE_URL", server.uri()));
    let s = select(&e, &vars, false);
    let report = doctor::run(&s, &e.dyn_clock).await;
    assert!(!report.healthy());

    let by_port = |p: Port| report.checks.iter().find(|c| c.port == p).unwrap();
    let crm = by_port(Port::Crm);
    assert_eq!(crm.status, Status::Failed);
    assert_eq!(crm.error_kind, Some("rate_limited"));
    let until = (e.clock.shared().now() + chrono::Duration::seconds(120))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(crm.detail, format!("rate limited until {until}"));

    for p in [Port::Mailbox, Port::Drive, Port::Calendar] {
        let c = by_port(p);
        assert_eq!(c.status, Status::Failed, "{c:?}");
        assert_eq!(c.error_kind, Some("unauthenticated"), "{c:?}");
        assert!(
            c.detail.starts_with("needs re-authorisation")
                && c.detail.contains(&format!("google account {ME}")),
            "{}",
            c.detail
        );
    }
    assert_eq!(by_port(Port::Llm).status, Status::Ok);
    assert_eq!(report.failures().count(), 4);
    // The revoked grant is remembered: the account now awaits re-authorisation.
    let stored = e.memory.token(ME).await.unwrap().unwrap();
    assert!(stored.needs_reauth);
    // No Google API call was made without a token, and every request follows its contract.
    let reqs = server.received_requests().await.unwrap();
    assert!(reqs.iter().all(|r| !r.url.path().starts_with("/gmail/")
        && !r.url.path().starts_with("/drive/")
        && !r.url.path().starts_with("/calendar/")));
    Contracts::load().assert_all_follow(&server).await;

    // JSON: one document with stable field names.
    let json = serde_json::to_value(&report).unwrap();
    let rows = json["checks"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["service"], "HubSpot");
    assert_eq!(rows[0]["implementation"], "real");
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(rows[0]["error_kind"], "rate_limited");
    assert!(rows[0]["latency_ms"].is_u64());
    assert_eq!(rows[4]["status"], "ok");
    // Secrets never reach the report.
    let text = format!("{json}{}", report.table());
    assert!(!text.contains(OPENAI_KEY) && !text.contains(HUBSPOT_TOKEN));
    assert!(!text.contains("GOCSPX") && !text.contains("1//0services"));
}

#[tokio::test]
async fn doctor_openai_401_needs_reauthorisation() {
    let e = env();
    let server = MockServer::start().await;
    mount_openai(
        &server,
        401,
        json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
            "param": null, "code": "invalid_api_key"}}),
    )
    .await;
    let s = select(&e, &openai_vars(&server), false);
    let report = doctor::run(&s, &e.dyn_clock).await;
    assert!(!report.healthy());
    let llm = &report.checks[4];
    assert_eq!(llm.error_kind, Some("unauthenticated"));
    assert!(
        llm.detail.starts_with("needs re-authorisation"),
        "{}",
        llm.detail
    );
    assert!(
        report.checks[..4]
            .iter()
            .all(|c| c.status == Status::Offline)
    );
}
