//! In-process tests of the operator web page: login, session cookie, CSRF, approve, kill switch.
#![cfg(feature = "host")]

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use salesagent::core::model::DraftStatus;
use salesagent::core::ports::SettingsExt as _;
use serde_json::json;
use webhook_support::web::{self, cookie_value, get, hidden, post_form, set_cookies};
use webhook_support::*;

/// Logs in as the admin; returns the session cookie header value.
async fn login(env: &Env) -> String {
    web::login(env, TOKEN).await
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

fn post_json_form(path: &str, cookie: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let mut req = post_form(path, cookie, fields);
    req.headers_mut()
        .insert(header::ACCEPT, "application/json".parse().unwrap());
    req
}

#[tokio::test]
async fn page_script_is_same_origin_and_the_csp_stays_strict() {
    let env = env();
    let cookie = login(&env).await;
    let resp = env.send(get("/operator", &cookie)).await;
    let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert!(
        !csp.split(';')
            .any(|d| d.trim().starts_with("script-src") && d.contains("unsafe-inline")),
        "{csp}"
    );
    let html = text(resp).await;
    assert!(html.contains("<script src=\"/operator/assets/operator.js\" defer></script>"));
    assert!(!html.contains("<script>"), "no inline script");
    let resp = env
        .send(
            Request::get("/operator/assets/operator.js")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(resp.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(text(resp).await.contains("keydown"));
}

#[tokio::test]
async fn form_routes_answer_json_to_the_script_with_the_edit_diff() {
    let env = env();
    let id = seed_draft(&env).await;
    let cookie = login(&env).await;
    let html = text(env.send(get("/operator", &cookie)).await).await;
    let csrf = hidden(&html, "csrf");
    // The CSRF token is still required.
    let resp = env
        .send(post_json_form(
            &format!("/operator/drafts/{id}/edit"),
            &cookie,
            &[("csrf", "nope"), ("version", "1"), ("body", "Hi")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = env
        .send(post_json_form(
            &format!("/operator/drafts/{id}/edit"),
            &cookie,
            &[
                ("csrf", &csrf),
                ("version", "1"),
                ("subject", "Hello <script>"),
                ("body", "Hi and a warm welcome"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(v["status"], "PENDING");
    assert_eq!(v["version"], 2);
    assert_eq!(
        v["diff_html"],
        "Hi <del>&amp;</del><ins>and a warm</ins> welcome"
    );
    // A stale version is a 409 in JSON, not a redirect.
    let resp = env
        .send(post_json_form(
            &format!("/operator/drafts/{id}/approve"),
            &cookie,
            &[("csrf", &csrf), ("version", "1")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(json(resp).await["error"]["message"].is_string());
    let resp = env
        .send(post_json_form(
            &format!("/operator/drafts/{id}/approve"),
            &cookie,
            &[("csrf", &csrf), ("version", "2")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["status"], "APPROVED");
    // The draft page shows the change against the draft as written, and who did what.
    let html = text(
        env.send(get(&format!("/operator/drafts/{id}"), &cookie))
            .await,
    )
    .await;
    assert!(html.contains("id=\"changes\""), "{html}");
    assert!(html.contains("<ins>and a warm</ins>"), "{html}");
    assert!(html.contains("<td>approved</td>"), "{html}");
    // The contact's timeline has the draft, the edit and the approval.
    let html = text(
        env.send(get("/operator/contacts/ann@acme.io", &cookie))
            .await,
    )
    .await;
    assert!(html.contains("id=\"timeline\""), "{html}");
    for what in ["draft written", "edited", "approved"] {
        assert!(html.contains(what), "{what} in {html}");
    }
    let resp = env
        .send(get("/operator/contacts/not-an-address", &cookie))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn charts_page_draws_svg_with_the_numbers_as_tables() {
    let env = env();
    seed_draft(&env).await;
    let cookie = login(&env).await;
    let resp = env
        .send(api(
            "POST",
            "/api/outcomes/record",
            Some(
                json!({"outcome_type": "email_replied", "contact_email": "ann@acme.io",
                        "source_event_id": "mail:r1@acme.io:email_replied"}),
            ),
        ))
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let resp = env.send(get("/operator/charts", &cookie)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = text(resp).await;
    for id in [
        "chart-weekly",
        "chart-funnel",
        "chart-types",
        "chart-senders",
        "table-weekly",
        "table-funnel",
        "table-types",
        "table-senders",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id} in {html}");
    }
    assert!(html.contains("<tr><td>drafted</td><td>1</td>"), "{html}");
    assert!(
        html.contains("<tr><td>email_replied</td><td>1</td></tr>"),
        "{html}"
    );
    // The contact's timeline lists the outcome.
    let html = text(
        env.send(get("/operator/contacts/ann@acme.io", &cookie))
            .await,
    )
    .await;
    assert!(html.contains("<td>outcome</td>"), "{html}");
    assert!(html.contains("email replied"), "{html}");
    // Charts need a login like every page.
    let resp = env
        .send(
            Request::get("/operator/charts")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn push_to_talk_route_needs_the_session_and_its_csrf_header() {
    use salesagent::core::ports::DynSpeechToText;
    use salesagent::core::testing::FakeSpeechToText;
    use std::sync::Arc;
    let stt = Arc::new(FakeSpeechToText::new());
    let mut env = env();
    env.state = env
        .state
        .clone()
        .with_speech(Some(stt.clone() as DynSpeechToText), None);
    seed_draft(&env).await;
    let cookie = login(&env).await;
    let html = text(env.send(get("/operator", &cookie)).await).await;
    let csrf = hidden(&html, "csrf");
    let audio = |cookie: &str, csrf: &str| {
        Request::post("/operator/assistant/audio?conversation=gone")
            .header(header::CONTENT_TYPE, "audio/webm")
            .header(header::COOKIE, cookie)
            .header("x-csrf-token", csrf)
            .body(Body::from(&b"webm-bytes"[..]))
            .unwrap()
    };
    let resp = env.send(audio("", &csrf)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = env.send(audio(&cookie, "nope")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(stt.heard().is_empty(), "nothing heard without the token");
    stt.push_transcript("what's next");
    let resp = env.send(audio(&cookie, &csrf)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(v["transcript"], "what's next");
    assert!(v["reply"].as_str().unwrap().contains("Next is"), "{v}");
    assert!(v["session"].is_string());
    assert!(v.get("audio").is_none(), "no text to speech configured");
    assert_eq!(stt.heard()[0].bytes, b"webm-bytes");
}

/// A first e-mail to `to`, stored as sent, and the hook that enrols its contact in the default
/// follow-up sequence.
async fn enrol(env: &Env, to: &str) {
    use salesagent::core::model::{Draft, DraftWriter, EmailAddress, MessageId};
    use salesagent::core::sequences::{SequenceConfig, activate, on_sent};
    activate(&*env.store, &SequenceConfig::default())
        .await
        .unwrap();
    let addr = |s: &str| EmailAddress::parse(s).unwrap();
    let mut d = Draft::new(
        addr(to),
        addr("sales@ours.io"),
        "Hello",
        "Hi,\n\nwould a short demo help?\n\nSam",
        DraftWriter::Human,
        env.now(),
    );
    d.status = DraftStatus::Sent;
    d.message_id = Some(MessageId::parse(&format!("first.{to}")).unwrap());
    d.sent_at = Some(env.now());
    env.store
        .insert_draft(&d, &d.created_event("test"))
        .await
        .unwrap();
    on_sent(&*env.store, d.id, env.now()).await.unwrap();
}

async fn sequence_of(env: &Env, to: &str) -> serde_json::Value {
    let resp = env
        .send(api("GET", &format!("/api/sequences/{to}"), None))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    json(resp).await
}

#[tokio::test]
async fn stop_follow_ups_button_stops_the_sequence_with_csrf_only() {
    let env = env();
    let id = seed_draft(&env).await;
    enrol(&env, "ann@acme.io").await;
    enrol(&env, "bob@globex.com").await;
    let cookie = login(&env).await;
    let page = format!("/operator/drafts/{id}");
    let html = text(env.send(get(&page, &cookie)).await).await;
    assert!(html.contains("Stop follow-ups"), "{html}");
    let action = "/operator/contacts/ann@acme.io/stop-sequence";
    assert!(html.contains(&format!("action=\"{action}\"")), "{html}");
    let csrf = hidden(&html, "csrf");

    // Without the CSRF token, or with a wrong one: refused, the sequence keeps running.
    let resp = env.send(post_form(action, &cookie, &[("back", &id)])).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = env
        .send(post_form(action, &cookie, &[("csrf", "nope")]))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = env.send(post_form(action, "", &[("csrf", &csrf)])).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sequence_of(&env, "ann@acme.io").await["status"], "active");

    // With it: stopped by hand, naming the operator, back to the draft page.
    let resp = env
        .send(post_form(
            action,
            &cookie,
            &[("csrf", &csrf), ("back", &id)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], page.as_str());
    let seq = sequence_of(&env, "ann@acme.io").await;
    assert_eq!(seq["status"], "stopped", "{seq}");
    assert_eq!(seq["stop_reason"]["reason"], "manual", "{seq}");
    assert_eq!(seq["stop_reason"]["actor"], "operator:admin", "{seq}");
    let audit = env.store.audit_entries(0, 1000).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "sequence.stop" && e.actor == "operator:admin")
    );
    // A stopped sequence shows why, and no button.
    let html = text(env.send(get(&page, &cookie)).await).await;
    assert!(!html.contains("Stop follow-ups"), "{html}");
    assert!(html.contains("stopped: manual"), "{html}");

    // The contact timeline has the button too; the page script gets JSON.
    let timeline = text(
        env.send(get("/operator/contacts/bob@globex.com", &cookie))
            .await,
    )
    .await;
    assert!(timeline.contains("Stop follow-ups"), "{timeline}");
    let resp = env
        .send(post_json_form(
            "/operator/contacts/bob@globex.com/stop-sequence",
            &cookie,
            &[("csrf", &csrf)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json(resp).await;
    assert_eq!(body["status"], "stopped", "{body}");
    assert_eq!(body["stop_reason"]["reason"], "manual", "{body}");
    assert_eq!(
        sequence_of(&env, "bob@globex.com").await["status"],
        "stopped"
    );

    // A contact without a sequence.
    let resp = env
        .send(post_form(
            "/operator/contacts/nobody@else.org/stop-sequence",
            &cookie,
            &[("csrf", &csrf)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
