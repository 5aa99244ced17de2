//! In-process tests of the operator web page: login, session cookie, CSRF, approve, kill switch.
#![cfg(feature = "host")]

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use salesagent::core::model::DraftStatus;
use salesagent::core::ports::SettingsExt as _;
use serde_json::json;
use webhook_support::*;

fn set_cookies(resp: &Response<Body>) -> Vec<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap().to_owned())
}

/// The value of `<input ... name="NAME" value="...">` in a page.
fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .expect("field in page");
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn post_form(path: &str, cookie: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
        .collect();
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body.join("&")))
        .unwrap()
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

/// Logs in; returns the session cookie header value.
async fn login(env: &Env) -> String {
    let resp = env
        .send(Request::get("/operator/login").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let login_cookie = cookie_value(&set_cookies(&resp), "sa_login").unwrap();
    let html = text(resp).await;
    let csrf = hidden(&html, "csrf");
    assert_eq!(csrf, login_cookie);
    let resp = env
        .send(post_form(
            "/operator/login",
            &format!("sa_login={login_cookie}"),
            &[("csrf", &csrf), ("token", TOKEN)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set = set_cookies(&resp);
    let session = set.iter().find(|c| c.starts_with("sa_session=")).unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    format!("sa_session={}", cookie_value(&set, "sa_session").unwrap())
}

async fn seed_draft(env: &Env) -> String {
    let resp = env
        .send(api(
            "POST",
            "/api/drafts",
            Some(json!({"contact_email": "ann@acme.io", "contact_name": "<b>Ann</b>", "sender": "sales@ours.io",
                        "subject": "Hello <script>", "body": "Hi & welcome"})),
        ))
        .await;
    json(resp).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn pages_need_a_login() {
    let env = env();
    let resp = env
        .send(Request::get("/operator").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/operator/login");
    let resp = env.send(get("/operator", "sa_session=forged")).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn wrong_token_or_missing_login_csrf_is_refused() {
    let env = env();
    let resp = env
        .send(Request::get("/operator/login").body(Body::empty()).unwrap())
        .await;
    let login_cookie = cookie_value(&set_cookies(&resp), "sa_login").unwrap();
    let cookie = format!("sa_login={login_cookie}");
    let resp = env
        .send(post_form(
            "/operator/login",
            &cookie,
            &[("csrf", &login_cookie), ("token", "guess")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_value(&set_cookies(&resp), "sa_session").is_none());
    let resp = env
        .send(post_form("/operator/login", &cookie, &[("token", TOKEN)]))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = env
        .send(post_form(
            "/operator/login",
            "",
            &[("csrf", &login_cookie), ("token", TOKEN)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn queue_draft_page_and_approve_with_csrf() {
    let env = env();
    let id = seed_draft(&env).await;
    let cookie = login(&env).await;
    let resp = env.send(get("/operator", &cookie)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"));
    let html = text(resp).await;
    assert!(html.contains(&format!("/operator/drafts/{id}")));
    assert!(
        html.contains("&lt;b&gt;Ann&lt;/b&gt;") && !html.contains("<b>Ann</b>"),
        "escaped"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no remote assets"
    );

    let resp = env
        .send(get(&format!("/operator/drafts/{id}"), &cookie))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = text(resp).await;
    assert!(html.contains("Hello &lt;script&gt;") && !html.contains("<script>"));
    let csrf = hidden(&html, "csrf");

    // CSRF missing, then wrong: refused, draft untouched.
    let path = format!("/operator/drafts/{id}/approve");
    let resp = env
        .send(post_form(&path, &cookie, &[("version", "1")]))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = env
        .send(post_form(
            &path,
            &cookie,
            &[("csrf", "nope"), ("version", "1")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // No session at all.
    let resp = env
        .send(post_form(&path, "", &[("csrf", &csrf), ("version", "1")]))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let d = env.store.get_draft(id.parse().unwrap()).await.unwrap();
    assert_eq!(d.status, DraftStatus::Pending);

    let resp = env
        .send(post_form(
            &path,
            &cookie,
            &[("csrf", &csrf), ("version", "1")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let d = env.store.get_draft(id.parse().unwrap()).await.unwrap();
    assert_eq!(d.status, DraftStatus::Approved);
    let events = env.store.draft_events(d.id).await.unwrap();
    assert_eq!(events.last().unwrap().actor, "operator:admin");
}

#[tokio::test]
async fn edit_reject_kill_switch_and_logout() {
    let env = env();
    let id = seed_draft(&env).await;
    let cookie = login(&env).await;
    let html = text(
        env.send(get(&format!("/operator/drafts/{id}"), &cookie))
            .await,
    )
    .await;
    let csrf = hidden(&html, "csrf");
    let resp = env
        .send(post_form(
            &format!("/operator/drafts/{id}/edit"),
            &cookie,
            &[
                ("csrf", &csrf),
                ("version", "1"),
                ("subject", "Better subject"),
                ("body", "New body"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let d = env.store.get_draft(id.parse().unwrap()).await.unwrap();
    assert_eq!(
        (d.subject.as_str(), d.body.as_str(), d.version),
        ("Better subject", "New body", 2)
    );
    // A stale form loses.
    let resp = env
        .send(post_form(
            &format!("/operator/drafts/{id}/reject"),
            &cookie,
            &[("csrf", &csrf), ("version", "1"), ("reason", "no")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = env
        .send(post_form(
            &format!("/operator/drafts/{id}/reject"),
            &cookie,
            &[
                ("csrf", &csrf),
                ("version", "2"),
                ("reason", "wrong person"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        env.store
            .get_draft(id.parse().unwrap())
            .await
            .unwrap()
            .status,
        DraftStatus::Rejected
    );

    let resp = env
        .send(post_form("/operator/kill-switch", &cookie, &[("on", "on")]))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(!env.store.kill_switch().await.unwrap());
    let resp = env
        .send(post_form(
            "/operator/kill-switch",
            &cookie,
            &[("csrf", &csrf), ("on", "on")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(env.store.kill_switch().await.unwrap());
    let html = text(env.send(get("/operator", &cookie)).await).await;
    assert!(html.contains("Kill switch is ON"));

    let resp = env
        .send(post_form("/operator/logout", &cookie, &[("csrf", &csrf)]))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = env.send(get("/operator", &cookie)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "session ended");
}

#[tokio::test]
async fn sessions_expire() {
    let env = env();
    let cookie = login(&env).await;
    assert_eq!(
        env.send(get("/operator", &cookie)).await.status(),
        StatusCode::OK
    );
    env.clock.advance(std::time::Duration::from_secs(9 * 3600));
    assert_eq!(
        env.send(get("/operator", &cookie)).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn unknown_draft_page_is_404() {
    let env = env();
    let cookie = login(&env).await;
    let unknown = salesagent::core::model::DraftId::new();
    let resp = env
        .send(get(&format!("/operator/drafts/{unknown}"), &cookie))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn assistant_box_answers_and_keeps_the_conversation() {
    let env = env();
    let id = seed_draft(&env).await;
    let cookie = login(&env).await;
    let html = text(env.send(get("/operator", &cookie)).await).await;
    assert!(html.contains("action=\"/operator/assistant\""), "{html}");
    let csrf = hidden(&html, "csrf");

    // Without the CSRF token nothing is asked.
    let resp = env
        .send(post_form(
            "/operator/assistant",
            &cookie,
            &[("csrf", "nope"), ("text", "what's next")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let resp = env
        .send(post_form(
            "/operator/assistant",
            &cookie,
            &[("csrf", &csrf), ("text", "what's next")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = text(resp).await;
    assert!(html.contains("id=\"assistant-reply\""), "{html}");
    assert!(html.contains("It is first because"), "{html}");
    // Operator text is escaped like everything else on the page.
    assert!(!html.contains("<b>Ann</b>"), "{html}");
    let conversation = hidden(&html, "conversation");

    // "this" is the draft the conversation is on.
    let resp = env
        .send(post_form(
            "/operator/assistant",
            &cookie,
            &[
                ("csrf", &csrf),
                ("conversation", &conversation),
                ("text", "reject: too early"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let d = env.store.get_draft(id.parse().unwrap()).await.unwrap();
    assert_eq!(d.status, DraftStatus::Rejected);

    // An expired or unknown conversation starts a new one instead of failing.
    let resp = env
        .send(post_form(
            "/operator/assistant",
            &cookie,
            &[
                ("csrf", &csrf),
                ("conversation", "gone"),
                ("text", "how many are pending"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}
