//! Named operators through the shipped router: each acts with their own token over the API,
//! the web page and the assistant, and the audit log names them; revoked and blank tokens are
//! refused; `SALESAGENT_OPERATOR_TOKEN` acts as `admin`. The last test drives `cli operators`
//! against a SQLite file the host then serves.
#![cfg(feature = "host")]

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use salesagent::core::assistant::AssistantConfig;
use salesagent::core::model::AuditEntry;
use salesagent::core::ports::{new_operator_token, operator_token_hash};
use salesagent::core::sending::SendMode;
use salesagent::host::{AppState, HostConfig};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use webhook_support::web::{self, post_form};
use webhook_support::*;

/// Adds operator `name` straight to the store; returns their token.
async fn add_operator(env: &Env, name: &str) -> String {
    let token = new_operator_token(name).unwrap();
    let token = token.expose_secret().to_owned();
    env.store
        .add_operator(name, &operator_token_hash(&token))
        .await
        .unwrap();
    token
}

async fn create_draft(env: &Env, token: &str, email: &str) -> String {
    let resp = env
        .send(as_operator(
            token,
            "POST",
            "/api/drafts",
            Some(json!({
                "contact_email": email,
                "contact_name": "Ann",
                "sender": "sales@ours.io",
                "subject": "Your pricing question",
                "body": "Hi Ann,\n\nthanks for asking.\n",
            })),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    json(resp).await["id"].as_str().unwrap().to_owned()
}

async fn audit(env: &Env) -> Vec<AuditEntry> {
    env.store.audit_entries(0, 0).await.unwrap()
}

fn actor_of(entries: &[AuditEntry], action: &str, subject: &str) -> Option<String> {
    entries
        .iter()
        .rev()
        .find(|e| e.action == action && e.subject == subject)
        .map(|e| e.actor.clone())
}

#[tokio::test]
async fn each_operator_is_named_in_the_audit_log() {
    let env = env();
    let alice = add_operator(&env, "alice").await;
    let bob = add_operator(&env, "bob").await;

    let first = create_draft(&env, TOKEN, "ann@acme.io").await;
    let second = create_draft(&env, &bob, "ben@acme.io").await;
    let resp = env
        .send(as_operator(
            &alice,
            "POST",
            &format!("/api/operator/drafts/{first}/approve"),
            None,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = env
        .send(as_operator(
            &bob,
            "POST",
            &format!("/api/operator/drafts/{second}/reject"),
            Some(json!({"reason": "too early"})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    let entries = audit(&env).await;
    assert_eq!(
        actor_of(&entries, "draft.create", &first).as_deref(),
        Some("operator:admin"),
        "SALESAGENT_OPERATOR_TOKEN acts as admin"
    );
    assert_eq!(
        actor_of(&entries, "draft.create", &second).as_deref(),
        Some("operator:bob")
    );
    assert_eq!(
        actor_of(&entries, "draft.approve", &first).as_deref(),
        Some("operator:alice")
    );
    assert_eq!(
        actor_of(&entries, "draft.reject", &second).as_deref(),
        Some("operator:bob")
    );
    assert!(
        entries.iter().all(|e| e.actor != "operator:api"),
        "no anonymous API actor is left"
    );

    let resp = env
        .send(as_operator(
            &alice,
            "POST",
            "/api/operator/kill-switch",
            Some(json!({"on": true})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        actor_of(&audit(&env).await, "kill_switch.on", "kill_switch").as_deref(),
        Some("operator:alice")
    );
}

#[tokio::test]
async fn revoked_unknown_and_blank_tokens_are_refused() {
    let env = env();
    let alice = add_operator(&env, "alice").await;
    let pending = "/api/operator/drafts/pending";
    assert_eq!(
        env.send(as_operator(&alice, "GET", pending, None))
            .await
            .status(),
        StatusCode::OK
    );
    assert!(env.store.revoke_operator("alice").await.unwrap());
    assert_eq!(
        env.send(as_operator(&alice, "GET", pending, None))
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "a revoked token stops working at once"
    );
    // Same shape, same name, a secret never issued.
    let forged = format!("sao1.alice.{}", "0".repeat(64));
    assert_eq!(
        env.send(as_operator(&forged, "GET", pending, None))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Another operator's hash under a different claimed name is not accepted either.
    let bob = add_operator(&env, "bob").await;
    let renamed = bob.replacen("sao1.bob.", "sao1.carol.", 1);
    assert_eq!(
        env.send(as_operator(&renamed, "GET", pending, None))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // A blank configured admin token never matches a blank presented one.
    let blank = env_with(HostConfig {
        operator_token: Some(SecretString::from("   ".to_owned())),
        ..config()
    });
    for presented in ["", "   ", "\t"] {
        let resp = blank
            .send(
                Request::get(pending)
                    .header(header::AUTHORIZATION, format!("Bearer {presented}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{presented:?}");
    }
    // Without an admin token, named operators still work.
    let closed = env_with(HostConfig {
        operator_token: None,
        ..config()
    });
    let carol = add_operator(&closed, "carol").await;
    assert_eq!(
        closed
            .send(as_operator(&carol, "GET", pending, None))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        closed
            .send(as_operator(TOKEN, "GET", pending, None))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Logs in to the web page with `token`; returns the session cookie and a CSRF token.
async fn web_login(env: &Env, token: &str) -> (String, String) {
    web::login_with_csrf(env, token).await
}

#[tokio::test]
async fn the_web_page_records_the_logged_in_operator() {
    let env = env();
    let alice = add_operator(&env, "alice").await;
    let id = create_draft(&env, TOKEN, "ann@acme.io").await;
    let (cookie, csrf) = web_login(&env, &alice).await;
    let resp = env
        .send(post_form(
            &format!("/operator/drafts/{id}/approve"),
            &cookie,
            &[("csrf", &csrf), ("version", "1")],
        ))
        .await;
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert_eq!(
        actor_of(&audit(&env).await, "draft.approve", &id).as_deref(),
        Some("operator:alice")
    );

    // Revoking alice ends her open session at its next request.
    assert!(env.store.revoke_operator("alice").await.unwrap());
    let resp = env
        .send(
            Request::get("/operator")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.headers()[header::LOCATION], "/operator/login");
    let id2 = create_draft(&env, TOKEN, "cat@acme.io").await;
    let resp = env
        .send(post_form(
            &format!("/operator/drafts/{id2}/approve"),
            &cookie,
            &[("csrf", &csrf), ("version", "1")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // The admin token logs in as admin.
    let id = create_draft(&env, TOKEN, "ben@acme.io").await;
    let (cookie, csrf) = web_login(&env, TOKEN).await;
    env.send(post_form(
        &format!("/operator/drafts/{id}/reject"),
        &cookie,
        &[("csrf", &csrf), ("version", "1"), ("reason", "not now")],
    ))
    .await;
    assert_eq!(
        actor_of(&audit(&env).await, "draft.reject", &id).as_deref(),
        Some("operator:admin")
    );
}

#[tokio::test]
async fn the_assistant_acts_as_the_authenticated_operator() {
    let mut env = env();
    env.state = env.state.clone().with_assistant_config(AssistantConfig {
        send_mode: SendMode::DraftOnly,
        ..AssistantConfig::default()
    });
    let alice = add_operator(&env, "alice").await;
    let id = create_draft(&env, TOKEN, "ann@acme.io").await;
    let say = |body: Value| as_operator(&alice, "POST", "/api/assistant/command", Some(body));

    // Naming somebody else is refused; naming yourself is fine.
    let resp = env
        .send(say(json!({"text": "what's next?", "operator": "bob"})))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = env
        .send(say(json!({"text": "what's next?", "operator": "alice"})))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(v["draft"], id.as_str());
    let session = v["session"].as_str().unwrap().to_owned();
    let resp = env
        .send(say(json!({"text": "nope, too early", "session": session})))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        actor_of(&audit(&env).await, "draft.reject", &id).as_deref(),
        Some("operator:alice")
    );
}

/// The `cli` example binary next to this test's executable, if it was built.
fn cli_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("examples").join("cli");
    bin.exists().then_some(bin)
}

fn cli(bin: &std::path::Path, db: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin)
        .arg("--database")
        .arg(db)
        .arg("--offline")
        .args(args)
        .env_remove("SALESAGENT_ENCRYPTION_KEY")
        .env_remove("SALESAGENT_OPERATOR")
        .output()
        .expect("run the cli")
}

#[tokio::test]
async fn cli_operators_add_list_revoke_drive_the_host() {
    let Some(bin) = cli_binary() else {
        eprintln!("SKIPPED: the cli example is not built (`cargo build --example cli`)");
        return;
    };
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("operators-{}.db", uuid::Uuid::new_v4()));
    let db = format!("sqlite://{}?mode=rwc", path.display());

    let out = cli(&bin, &db, &["operators", "add", "dana", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = added["token"].as_str().unwrap().to_owned();
    assert!(
        token.starts_with("sao1.dana.") && token.len() >= 64,
        "{token}"
    );

    let out = cli(&bin, &db, &["operators", "add", "dana"]);
    assert!(!out.status.success(), "a live name cannot be added twice");

    let out = cli(&bin, &db, &["operators", "list", "--json"]);
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(listed.contains("\"dana\""), "{listed}");
    assert!(!listed.contains(&token), "list never shows a token");

    // The host over the same database accepts dana's token and names her.
    let store = salesagent::services::open_store(
        &db,
        std::sync::Arc::new(salesagent::core::ports::SystemClock),
    )
    .await
    .unwrap();
    let state = AppState::new(
        store.clone(),
        std::sync::Arc::new(salesagent::core::ports::SystemClock),
        config(),
    );
    let app = salesagent::host::app(state);
    let send = |req: Request<Body>| {
        use tower::ServiceExt as _;
        app.clone().oneshot(req)
    };
    let resp = send(as_operator(
        &token,
        "GET",
        "/api/operator/drafts/pending",
        None,
    ))
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let out = cli(&bin, &db, &["operators", "revoke", "dana"]);
    assert!(out.status.success(), "{out:?}");
    let resp = send(as_operator(
        &token,
        "GET",
        "/api/operator/drafts/pending",
        None,
    ))
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let entries = store.audit_entries(0, 0).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.action == "operator.add" && e.subject == "operator:dana")
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "operator.revoke" && e.subject == "operator:dana")
    );
    let _ = std::fs::remove_file(&path);
}
