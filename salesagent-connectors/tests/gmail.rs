//! Google OAuth and Gmail against a mock server. Token-endpoint checks follow
//! `contracts/google/OAUTH.md`; Gmail requests and fixtures `contracts/google/gmail.v1.discovery.json`;
//! error bodies `contracts/google/ERRORS.md`.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::spec::{Discovery, assert_all_follow};
use salesagent_connectors::gmail::{Gmail, GmailBuilder};
use salesagent_connectors::google_oauth::{GoogleAccount, GoogleOAuth, scopes};
use salesagent_connectors::http::{Authorizer, HttpConfig, RetryPolicy};
use salesagent_core::Error;
use salesagent_core::model::{
    EmailAddress, MailQuery, MessageId, OAuthToken, OutgoingMessage, ThreadId,
};
use salesagent_core::ports::{Mailbox, SecretStore};
use salesagent_core::testing::{ManualClock, MemoryStore};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CLIENT_SECRET: &str = "GOCSPX-client-secret-value";
const ACCESS: &str = "ya29.a0Af-old-access-token";
const NEW_ACCESS: &str = "ya29.a0Af-example";
const REFRESH: &str = "1//0refresh-token-value";
const ME: &str = "seller@seller.io";

struct Env {
    server: MockServer,
    clock: ManualClock,
    store: Arc<MemoryStore>,
    oauth: GoogleOAuth,
    account: Arc<GoogleAccount>,
}

fn http_config() -> HttpConfig {
    HttpConfig {
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

async fn env(expires_in_secs: i64) -> Env {
    let server = MockServer::start().await;
    let clock = ManualClock::new(ManualClock::default_start());
    let store = Arc::new(MemoryStore::new(clock.shared()));
    store
        .save_token(&OAuthToken {
            account: ME.into(),
            access_token: SecretString::from(ACCESS),
            refresh_token: Some(SecretString::from(REFRESH)),
            expires_at: Some(clock.shared().now() + chrono::Duration::seconds(expires_in_secs)),
            scopes: vec![scopes::GMAIL_MODIFY.into()],
            needs_reauth: false,
        })
        .await
        .unwrap();
    let oauth = GoogleOAuth::builder()
        .with_client("client-id.apps.googleusercontent.com", CLIENT_SECRET)
        .with_redirect_uri("http://127.0.0.1:8080/oauth/callback")
        .with_token_url(format!("{}/token", server.uri()))
        .with_clock(clock.shared())
        .build(store.clone())
        .unwrap();
    let account = oauth.account(ME);
    Env {
        server,
        clock,
        store,
        oauth,
        account,
    }
}

use salesagent_core::ports::Clock as _;

fn gmail(e: &Env) -> Gmail {
    GmailBuilder::default()
        .with_base_url(e.server.uri())
        .with_authorizer(e.account.clone())
        .with_http_config(http_config())
        .build()
        .unwrap()
}

fn form(r: &Request) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(&r.body).into_owned().collect()
}

/// Token-endpoint requests carry exactly the fields OAUTH.md lists for their grant.
fn check_token_request(r: &Request) -> Result<(), String> {
    if r.method.as_str() != "POST" {
        return Err("token endpoint takes POST".into());
    }
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(format!("content type {ct}"));
    }
    if r.headers.get("authorization").is_some() {
        return Err("client credentials go in the form, not an Authorization header".into());
    }
    let f = form(r);
    let (required, optional): (&[&str], &[&str]) = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => (
            &[
                "grant_type",
                "code",
                "redirect_uri",
                "client_id",
                "client_secret",
            ],
            &["code_verifier"],
        ),
        Some("refresh_token") => (
            &["grant_type", "refresh_token", "client_id", "client_secret"],
            &["scope", "rapt"],
        ),
        other => return Err(format!("grant_type {other:?}")),
    };
    for k in required {
        if !f.contains_key(*k) {
            return Err(format!("missing {k}"));
        }
    }
    for k in f.keys() {
        if !required.contains(&k.as_str()) && !optional.contains(&k.as_str()) {
            return Err(format!("field {k} not allowed for this grant"));
        }
    }
    Ok(())
}

fn token_ok(access: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"access_token": access, "expires_in": 3599,
        "scope": "https://www.googleapis.com/auth/gmail.modify", "token_type": "Bearer"}))
}

fn profile() -> Value {
    json!({"emailAddress": ME, "messagesTotal": 120, "threadsTotal": 80, "historyId": "4711"})
}

fn check(disc: &Discovery, r: &Request) -> Result<(), String> {
    if r.url.path() == "/token" {
        check_token_request(r)
    } else {
        disc.check_request(r)
    }
}

#[tokio::test]
async fn authorization_url_and_code_exchange() {
    let e = env(3600).await;
    let req = e.oauth.authorization_url(scopes::ALL).unwrap();
    let q: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "client-id.apps.googleusercontent.com");
    assert_eq!(q["redirect_uri"], "http://127.0.0.1:8080/oauth/callback");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["state"], req.state);
    assert!(q["scope"].contains(scopes::GMAIL_MODIFY));
    assert!(!req.url.as_str().contains(req.pkce_verifier.expose_secret()));
    assert!(!format!("{req:?}").contains(req.pkce_verifier.expose_secret()));

    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=4%2F0code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": NEW_ACCESS, "expires_in": 3599,
            "refresh_token": "1//fresh-refresh", "scope": "https://www.googleapis.com/auth/gmail.modify https://www.googleapis.com/auth/calendar.readonly",
            "token_type": "Bearer"})))
        .expect(1)
        .mount(&e.server)
        .await;
    let t = e
        .oauth
        .exchange_code("new@seller.io", "4/0code", &req.pkce_verifier)
        .await
        .unwrap();
    assert_eq!(t.scopes.len(), 2);
    let stored = e.store.token("new@seller.io").await.unwrap().unwrap();
    assert_eq!(stored.access_token.expose_secret(), NEW_ACCESS);
    assert_eq!(
        stored.refresh_token.unwrap().expose_secret(),
        "1//fresh-refresh"
    );
    assert_eq!(
        stored.expires_at,
        Some(e.clock.now() + chrono::Duration::seconds(3599))
    );
    let reqs = e.server.received_requests().await.unwrap();
    let f = form(&reqs[0]);
    assert_eq!(
        f["code_verifier"].as_str(),
        req.pkce_verifier.expose_secret()
    );
    check_token_request(&reqs[0]).unwrap();
}

#[tokio::test]
async fn refreshes_ahead_of_expiry_once_for_concurrent_callers() {
    let disc = Discovery::load("google/gmail.v1.discovery.json");
    // Expires in 4 minutes: inside the 5-minute skew.
    let e = env(240).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(token_ok(NEW_ACCESS).set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&e.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/profile"))
        .and(header(
            "authorization",
            format!("Bearer {NEW_ACCESS}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(profile()))
        .expect(10)
        .mount(&e.server)
        .await;
    disc.check_schema("Profile", &profile());
    let g = gmail(&e);
    let calls = (0..10).map(|_| g.check());
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let t = e.store.token(ME).await.unwrap().unwrap();
    assert_eq!(t.access_token.expose_secret(), NEW_ACCESS);
    // Google omits the refresh token on refresh: the old one is kept.
    assert_eq!(t.refresh_token.unwrap().expose_secret(), REFRESH);
    assert_all_follow(&e.server, |r| check(&disc, r)).await;
}

#[tokio::test]
async fn a_401_triggers_exactly_one_refresh() {
    let disc = Discovery::load("google/gmail.v1.discovery.json");
    let e = env(3600).await;
    let invalid = json!({"error":{"errors":[{"domain":"global","reason":"authError","message":"Invalid Credentials",
        "locationType":"header","location":"Authorization"}],"code":401,"message":"Invalid Credentials"}});
    Mock::given(method("GET"))
        .and(header("authorization", format!("Bearer {ACCESS}").as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_json(&invalid))
        .mount(&e.server)
        .await;
    Mock::given(method("GET"))
        .and(header(
            "authorization",
            format!("Bearer {NEW_ACCESS}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(profile()))
        .mount(&e.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_ok(NEW_ACCESS))
        .expect(1)
        .mount(&e.server)
        .await;
    gmail(&e).check().await.unwrap();
    assert_all_follow(&e.server, |r| check(&disc, r)).await;

    // A service that keeps refusing: one refresh, one retry, then Unauthenticated.
    let e = env(3600).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(&invalid))
        .expect(2)
        .mount(&e.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_ok(NEW_ACCESS))
        .expect(1)
        .mount(&e.server)
        .await;
    let err = gmail(&e).check().await.unwrap_err();
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_grant_marks_the_account_for_reauthorisation() {
    let e = env(60).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error":"invalid_grant","error_description":"Token has been expired or revoked."})))
        .expect(1)
        .mount(&e.server)
        .await;
    let api = Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(profile()))
        .expect(0)
        .mount_as_scoped(&e.server)
        .await;
    let g = gmail(&e);
    let err = g.check().await.unwrap_err();
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
    assert!(err.to_string().contains("re-authorisation"));
    assert!(e.store.token(ME).await.unwrap().unwrap().needs_reauth);
    assert!(e.account.needs_reauth().await.unwrap());
    // No second trip to the token endpoint.
    assert_eq!(g.check().await.unwrap_err().kind(), "unauthenticated");
    assert_eq!(
        e.account.bearer().await.unwrap_err().kind(),
        "unauthenticated"
    );
    drop(api);
    // After a human re-authorises, the same live account works again.
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": NEW_ACCESS, "expires_in": 3599,
            "refresh_token": "1//fresh-refresh", "token_type": "Bearer"})),
        )
        .mount(&e.server)
        .await;
    Mock::given(method("GET"))
        .and(header(
            "authorization",
            format!("Bearer {NEW_ACCESS}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(profile()))
        .expect(1)
        .mount(&e.server)
        .await;
    let req = e.oauth.authorization_url(&[scopes::GMAIL_MODIFY]).unwrap();
    e.oauth
        .exchange_code(ME, "4/0again", &req.pkce_verifier)
        .await
        .unwrap();
    assert!(!e.account.needs_reauth().await.unwrap());
    g.check().await.unwrap();
}

#[tokio::test]
async fn token_endpoint_outage_is_retried_then_unavailable() {
    // A transient 503 from the token endpoint is retried by the one retry loop.
    let e = env(60).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&e.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_ok(NEW_ACCESS))
        .mount(&e.server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(profile()))
        .mount(&e.server)
        .await;
    gmail(&e).check().await.unwrap();
    // A lasting outage: Unavailable after the retries, and the account is not marked for re-auth.
    let e = env(60).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&e.server)
        .await;
    assert_eq!(gmail(&e).check().await.unwrap_err().kind(), "unavailable");
    assert!(!e.store.token(ME).await.unwrap().unwrap().needs_reauth);
}

fn raw_mail(id: &str, from: &str, to: &str, subject: &str, date: &str, extra: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\nHello from {from}\r\n").into_bytes()
}

fn message_json(id: &str, thread: &str, labels: &[&str], raw: &[u8]) -> Value {
    json!({"id": id, "threadId": thread, "labelIds": labels, "internalDate": "1764000000000",
           "historyId": "4700", "sizeEstimate": raw.len(), "raw": URL_SAFE_NO_PAD.encode(raw)})
}

async fn mount_message(
    server: &MockServer,
    disc: &Discovery,
    id: &str,
    thread: &str,
    labels: &[&str],
    raw: &[u8],
) {
    let body = message_json(id, thread, labels, raw);
    disc.check_schema("Message", &body);
    Mock::given(method("GET"))
        .and(path(format!("/gmail/v1/users/me/messages/{id}")))
        .and(query_param("format", "raw"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn mailbox_operations_follow_the_discovery_document() {
    let disc = Discovery::load("google/gmail.v1.discovery.json");
    let e = env(3600).await;
    let s = &e.server;
    let m1 = raw_mail(
        "m1@seller.io",
        ME,
        "ann@acme.io",
        "Demo",
        "Mon, 23 Nov 2026 09:00:00 +0000",
        "",
    );
    let r1 = raw_mail(
        "r1@acme.io",
        "Ann <ann@acme.io>",
        ME,
        "Re: Demo",
        "Tue, 24 Nov 2026 09:00:00 +0000",
        "In-Reply-To: <m1@seller.io>\r\nReferences: <m1@seller.io>\r\n",
    );
    mount_message(s, &disc, "g1", "t1", &["SENT"], &m1).await;
    mount_message(s, &disc, "g2", "t1", &["INBOX", "UNREAD"], &r1).await;
    let list = json!({"messages":[{"id":"g2","threadId":"t1"},{"id":"g1","threadId":"t1"}],"resultSizeEstimate":2});
    disc.check_schema("ListMessagesResponse", &list);
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .and(query_param(
            "q",
            "(from:ann@acme.io OR to:ann@acme.io OR cc:ann@acme.io)",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(&list))
        .mount(s)
        .await;
    let thread = json!({"id":"t1","historyId":"4700","messages":[{"id":"g1","threadId":"t1"},{"id":"g2","threadId":"t1"}]});
    disc.check_schema("Thread", &thread);
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/threads/t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&thread))
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/threads/nope"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error":{"code":404,"message":"Requested entity was not found.","errors":[{"message":"Requested entity was not found.","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}})))
        .mount(s)
        .await;
    // Sent-folder lookups by Message-ID.
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .and(query_param("q", "rfc822msgid:m1@seller.io in:sent"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"messages":[{"id":"g1","threadId":"t1"}],"resultSizeEstimate":1}),
        ))
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .and(query_param("q", "rfc822msgid:m2@seller.io in:sent"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"resultSizeEstimate":0})))
        .mount(s)
        .await;
    let m2 = raw_mail(
        "m2@seller.io",
        ME,
        "ann@acme.io",
        "Re: Demo",
        "Wed, 25 Nov 2026 09:00:00 +0000",
        "In-Reply-To: <r1@acme.io>\r\n",
    );
    let sent = json!({"id":"g3","threadId":"t1","labelIds":["SENT"]});
    disc.check_schema("Message", &sent);
    Mock::given(method("POST"))
        .and(path("/gmail/v1/users/me/messages/send"))
        .and(wiremock::matchers::body_json(
            json!({"raw": URL_SAFE_NO_PAD.encode(&m2), "threadId": "t1"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(&sent))
        .expect(1)
        .mount(s)
        .await;
    let draft = json!({"id":"r-123","message":{"id":"g4","threadId":"t1","labelIds":["DRAFT"]}});
    disc.check_schema("Draft", &draft);
    Mock::given(method("POST"))
        .and(path("/gmail/v1/users/me/drafts"))
        .and(wiremock::matchers::body_json(
            json!({"message":{"raw": URL_SAFE_NO_PAD.encode(&m2), "threadId": "t1"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(&draft))
        .expect(1)
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/profile"))
        .respond_with(ResponseTemplate::new(200).set_body_json(profile()))
        .mount(s)
        .await;
    let history = json!({"history":[{"id":"4712","messagesAdded":[{"message":{"id":"g2","threadId":"t1","labelIds":["INBOX"]}}]},
                                    {"id":"4713","messagesAdded":[{"message":{"id":"g2","threadId":"t1","labelIds":["INBOX"]}}]}],
                         "historyId":"4720"});
    disc.check_schema("ListHistoryResponse", &history);
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/history"))
        .and(query_param("startHistoryId", "4711"))
        .and(query_param("historyTypes", "messageAdded"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&history))
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/history"))
        .and(query_param("startHistoryId", "1"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error":{"code":404,"message":"Requested entity was not found.",
            "errors":[{"message":"Requested entity was not found.","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}})))
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .and(query_param("labelIds", "SENT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"messages":[{"id":"g1","threadId":"t1"}],"nextPageToken":"p2","resultSizeEstimate":5})))
        .mount(s)
        .await;

    let g = gmail(&e);
    let ann = EmailAddress::parse("ann@acme.io").unwrap();
    let found = g
        .search(&MailQuery {
            participant: Some(ann.clone()),
            ..MailQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0].message_id.as_ref().unwrap().as_str(),
        "r1@acme.io",
        "newest first"
    );
    assert_eq!(
        found[0].in_reply_to.as_ref().unwrap().as_str(),
        "m1@seller.io"
    );
    assert_eq!(found[0].from.as_ref(), Some(&ann));
    assert_eq!(found[0].labels, vec!["INBOX", "UNREAD"]);
    let t = g.get_thread(&ThreadId::from("t1")).await.unwrap();
    assert_eq!(
        t.iter().map(|m| m.provider_id.as_str()).collect::<Vec<_>>(),
        ["g1", "g2"]
    );
    assert_eq!(
        g.get_thread(&ThreadId::from("nope"))
            .await
            .unwrap_err()
            .kind(),
        "not_found"
    );

    let out = OutgoingMessage {
        message_id: MessageId::parse("m2@seller.io").unwrap(),
        from: EmailAddress::parse(ME).unwrap(),
        to: vec![ann.clone()],
        thread_id: Some(ThreadId::from("t1")),
        raw: m2.clone(),
    };
    let sent = g.send(&out).await.unwrap();
    assert_eq!(sent.provider_id.as_str(), "g3");
    let d = g.create_draft(&out).await.unwrap();
    assert_eq!(d.provider_id.as_str(), "r-123");
    // Already sent: found, not sent again.
    let again = OutgoingMessage {
        message_id: MessageId::parse("m1@seller.io").unwrap(),
        raw: m1.clone(),
        ..out.clone()
    };
    assert_eq!(g.send(&again).await.unwrap().provider_id.as_str(), "g1");
    let mismatched = OutgoingMessage {
        message_id: MessageId::parse("other@seller.io").unwrap(),
        ..out.clone()
    };
    assert_eq!(
        g.send(&mismatched).await.unwrap_err().kind(),
        "invalid_input"
    );
    assert!(
        g.find_sent(&MessageId::parse("m2@seller.io").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    let start = g.history(None).await.unwrap();
    assert!(start.messages.is_empty());
    assert_eq!(start.next_cursor.as_deref(), Some("4711"));
    let h = g.history(Some("4711")).await.unwrap();
    assert_eq!(h.messages.len(), 1, "deduplicated");
    assert_eq!(h.next_cursor.as_deref(), Some("4720"));
    assert_eq!(
        g.history(Some("x; drop")).await.unwrap_err().kind(),
        "invalid_input"
    );
    // An expired cursor (404) is `NotFound`: the caller re-syncs instead of skipping the gap.
    assert_eq!(g.history(Some("1")).await.unwrap_err().kind(), "not_found");
    let page = g.sent_messages(None, 10).await.unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.next_page.as_deref(), Some("p2"));
    let n = assert_all_follow(s, |r| check(&disc, r)).await;
    assert!(n > 15);
}

#[tokio::test]
async fn google_quota_errors_are_retried() {
    let disc = Discovery::load("google/gmail.v1.discovery.json");
    let e = env(3600).await;
    // Both fixtures from ERRORS.md: 403 userRateLimitExceeded and 429 rateLimitExceeded.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error":{"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"User Rate Limit Exceeded"}],"code":403,"message":"User Rate Limit Exceeded"}})))
        .up_to_n_times(1)
        .mount(&e.server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1").set_body_json(json!({"error":{"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}],"code":429,"message":"Rate Limit Exceeded"}})))
        .up_to_n_times(1)
        .mount(&e.server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(profile()))
        .mount(&e.server)
        .await;
    gmail(&e).check().await.unwrap();
    assert_eq!(assert_all_follow(&e.server, |r| check(&disc, r)).await, 3);
    // A permanent 403 is not retried.
    let e = env(3600).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error":{"errors":[{"domain":"global","reason":"domainPolicy","message":"The domain administrators have disabled Gmail apps."}],"code":403,"message":"The domain administrators have disabled Gmail apps."}})))
        .expect(1)
        .mount(&e.server)
        .await;
    assert_eq!(
        gmail(&e).check().await.unwrap_err().kind(),
        "permission_denied"
    );
}

#[tokio::test]
async fn no_token_or_secret_in_logs_or_debug() {
    let (logs, ()) = common::capture_logs();
    let e = env(60).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_ok(NEW_ACCESS))
        .mount(&e.server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&e.server)
        .await;
    let g = gmail(&e);
    let _ = g.check().await;
    let token = e.store.token(ME).await.unwrap().unwrap();
    let dbg = format!(
        "{g:?} {:?} {:?} {:?} {token:?} {:?}",
        e.oauth,
        e.account,
        GoogleOAuth::builder().with_client("id", CLIENT_SECRET),
        e.oauth.authorization_url(&[scopes::GMAIL_MODIFY]).unwrap()
    );
    let text = logs.text();
    assert!(text.contains("refreshing google access token"), "{text}");
    for secret in [ACCESS, NEW_ACCESS, REFRESH, CLIENT_SECRET] {
        assert!(!dbg.contains(secret), "{secret} in {dbg}");
        assert!(!text.contains(secret), "{secret} in logs");
    }
}

#[test]
fn every_shared_eml_parses_without_panic() {
    let Some(dir) = common::shared_dir().map(|d| d.join("data").join("mail")) else {
        eprintln!("NOTICE: ../shared/data/mail not found; skipping the .eml corpus test");
        return;
    };
    let mut n = 0;
    let mut with_id = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("eml") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let m =
            salesagent_connectors::gmail::parse::parse_mail(&bytes, "x".into(), None, vec![], None);
        assert_eq!(m.raw.as_deref(), Some(bytes.as_slice()));
        with_id += usize::from(m.message_id.is_some());
        n += 1;
    }
    assert!(n > 0, "no .eml files in {}", dir.display());
    eprintln!("parsed {n} .eml files, {with_id} with a valid Message-ID");
}

fn not_found() -> ResponseTemplate {
    // Google's error body (ERRORS.md shape) for an id that does not exist.
    ResponseTemplate::new(404).set_body_json(json!({"error":{"code":404,"message":"Requested entity was not found.",
        "errors":[{"message":"Requested entity was not found.","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}}))
}

fn outgoing(id: &str) -> OutgoingMessage {
    let raw = raw_mail(
        id,
        ME,
        "ann@acme.io",
        "Demo",
        "Mon, 23 Nov 2026 09:00:00 +0000",
        "",
    );
    OutgoingMessage {
        message_id: MessageId::parse(id).unwrap(),
        from: EmailAddress::parse(ME).unwrap(),
        to: vec![EmailAddress::parse("ann@acme.io").unwrap()],
        thread_id: None,
        raw,
    }
}

#[tokio::test]
async fn a_draft_is_created_then_sent_once() {
    let disc = Discovery::load("google/gmail.v1.discovery.json");
    let e = env(3600).await;
    let out = outgoing("d1@seller.io");
    let created = json!({"id":"r-5551","message":{"id":"18c0000000000a1","threadId":"18c0000000000a1","labelIds":["DRAFT"]}});
    disc.check_schema("Draft", &created);
    Mock::given(method("POST"))
        .and(path("/gmail/v1/users/me/drafts"))
        .and(wiremock::matchers::body_json(
            json!({"message":{"raw": URL_SAFE_NO_PAD.encode(&out.raw)}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(&created))
        .expect(1)
        .mount(&e.server)
        .await;
    // drafts.send answers the new SENT message (the guide: the draft is deleted and a message
    // with a new id is created); the same draft id afterwards is unknown.
    let sent = json!({"id":"18c0000000000b2","threadId":"18c0000000000a1","labelIds":["SENT"]});
    disc.check_schema("Message", &sent);
    Mock::given(method("POST"))
        .and(path("/gmail/v1/users/me/drafts/send"))
        .and(wiremock::matchers::body_json(json!({"id": "r-5551"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(&sent))
        .up_to_n_times(1)
        .expect(1)
        .mount(&e.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/gmail/v1/users/me/drafts/send"))
        .respond_with(not_found())
        .expect(2)
        .mount(&e.server)
        .await;

    let g = gmail(&e);
    let draft = g.create_draft(&out).await.unwrap();
    assert_eq!(
        draft.provider_id.as_str(),
        "r-5551",
        "the draft's id, not its message's"
    );
    assert_eq!(draft.thread_id, Some(ThreadId::from("18c0000000000a1")));
    assert_eq!(draft.message_id, out.message_id);
    let delivered = g.send_draft(&draft).await.unwrap();
    assert_eq!(delivered.provider_id.as_str(), "18c0000000000b2");
    assert_eq!(delivered.thread_id, Some(ThreadId::from("18c0000000000a1")));
    assert_eq!(delivered.message_id, out.message_id);
    // Sending the same draft again: NotFound, and exactly one request (no retry of a 404).
    let again = g.send_draft(&draft).await.unwrap_err();
    assert!(matches!(again, Error::NotFound { .. }), "{again:?}");
    assert!(again.to_string().contains("r-5551"), "{again}");
    // A draft id that never existed is NotFound too.
    let never = salesagent_core::model::SentMessage {
        provider_id: "r-0".into(),
        ..draft.clone()
    };
    assert_eq!(g.send_draft(&never).await.unwrap_err().kind(), "not_found");
    assert_eq!(assert_all_follow(&e.server, |r| check(&disc, r)).await, 4);
}

#[tokio::test]
async fn drafts_send_failures_are_not_repeated_in_process() {
    let disc = Discovery::load("google/gmail.v1.discovery.json");
    let draft = salesagent_core::model::SentMessage {
        provider_id: "r-77".into(),
        thread_id: None,
        message_id: MessageId::parse("d2@seller.io").unwrap(),
    };
    // A 503 (even with Retry-After) and a 500: one request, the error to the caller, whose job
    // queue retries (the draft may have been sent: it reconciles first).
    for (status, with_retry_after) in [(503, true), (500, false)] {
        let e = env(3600).await;
        let mut resp = ResponseTemplate::new(status).set_body_json(json!({"error":{"errors":[{"domain":"global",
            "reason":"backendError","message":"Backend Error"}],"code":status,"message":"Backend Error"}}));
        if with_retry_after {
            resp = resp.insert_header("Retry-After", "1");
        }
        Mock::given(method("POST"))
            .and(path("/gmail/v1/users/me/drafts/send"))
            .respond_with(resp)
            .expect(1)
            .mount(&e.server)
            .await;
        let err = gmail(&e).send_draft(&draft).await.unwrap_err();
        assert!(err.is_retryable(), "{status}: {err:?}");
        assert_all_follow(&e.server, |r| check(&disc, r)).await;
    }
    // The daily sending quota: deferred until midnight Pacific time, not retried.
    let e = env(3600).await;
    let clock = ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-11-24T20:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    Mock::given(method("POST"))
        .and(path("/gmail/v1/users/me/drafts/send"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error":{"errors":[{"domain":"usageLimits",
            "reason":"dailyLimitExceeded","message":"Daily Limit Exceeded"}],"code":403,"message":"Daily Limit Exceeded"}})))
        .expect(1)
        .mount(&e.server)
        .await;
    let g = GmailBuilder::default()
        .with_base_url(e.server.uri())
        .with_authorizer(e.account.clone())
        .with_http_config(http_config())
        .with_clock(clock.shared())
        .build()
        .unwrap();
    // 12:00 PST on 24 Nov 2026: the quota resets in 12 hours.
    assert_eq!(
        g.send_draft(&draft).await.unwrap_err(),
        Error::RateLimited {
            retry_after: Some(Duration::from_secs(12 * 3600))
        }
    );
}

#[tokio::test]
async fn token_endpoint_server_error_is_retried_not_a_reauth() {
    // OAUTH.md: `server_error` / `temporarily_unavailable` in a 400 body are retryable.
    for code in ["server_error", "temporarily_unavailable"] {
        let e = env(60).await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_json(json!({"error": code, "error_description": "try again"})),
            )
            .up_to_n_times(1)
            .expect(1)
            .mount(&e.server)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(token_ok(NEW_ACCESS))
            .expect(1)
            .mount(&e.server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(profile()))
            .mount(&e.server)
            .await;
        gmail(&e).check().await.unwrap();
        assert!(!e.store.token(ME).await.unwrap().unwrap().needs_reauth);
    }
    // Lasting: Unavailable (retryable by the job queue), the account not marked for re-auth.
    let e = env(60).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": "temporarily_unavailable"})),
        )
        .expect(3)
        .mount(&e.server)
        .await;
    let err = gmail(&e).check().await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(!e.store.token(ME).await.unwrap().unwrap().needs_reauth);
    // Other refusals stay permanent.
    let e = env(60).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({"error": "invalid_client", "error_description": "Unauthorized"}),
            ),
        )
        .expect(1)
        .mount(&e.server)
        .await;
    assert_eq!(
        gmail(&e).check().await.unwrap_err().kind(),
        "unauthenticated"
    );
}
