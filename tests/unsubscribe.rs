//! RFC 8058 one-click unsubscribe through the shipped router: the links the sender renders
//! (`salesagent::host::configure_mime`) are the ones `POST /unsubscribe/{token}` accepts; a POST
//! suppresses the address and stops its open drafts, once; a GET changes nothing; anything but a
//! genuine token is a bare 404.

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use salesagent::core::model::{
    Domain, Draft, DraftId, DraftStatus, DraftWriter, EmailAddress, MessageId, OutcomeType,
    SuppressionReason,
};
use salesagent::core::ports::{DynStore, OutcomeFilter};
use salesagent::core::sending::mime::{MimeOptions, render};
use salesagent::core::sending::unsubscribe::{UnsubscribeSecret, UnsubscribeToken};
use salesagent::host::{HostConfig, configure_mime, one_click_links, unsubscribe_secret};
use secrecy::SecretString;
use webhook_support::{Env, config, env_with, text};

const PUBLIC: &str = "https://leads.example.test";
const UNSUB_SECRET: &str = "unsubscribe-secret-for-tests-0123";

fn host_config() -> HostConfig {
    HostConfig {
        public_url: Some(PUBLIC.to_owned()),
        unsubscribe_secret: Some(SecretString::from(UNSUB_SECRET.to_owned())),
        ..config()
    }
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

async fn draft_to(env: &Env, contact: &str) -> Draft {
    let d = Draft::new(
        addr(contact),
        addr("sam@seller.dev"),
        "Hello",
        "Hi there",
        DraftWriter::Human,
        env.now(),
    );
    env.store
        .insert_draft(&d, &d.created_event("test"))
        .await
        .unwrap();
    d
}

/// The path of `draft`'s one-click link as the sending side renders it into the mail.
async fn link_path(env: &Env, draft: &Draft) -> String {
    let links = one_click_links(env.state.config(), &env.store)
        .await
        .unwrap()
        .expect("links with an https public URL");
    links
        .url(draft)
        .strip_prefix(PUBLIC)
        .expect("link on the public URL")
        .to_owned()
}

fn one_click_post(path: &str, content_type: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn form_post(path: &str) -> Request<Body> {
    one_click_post(
        path,
        "application/x-www-form-urlencoded",
        "List-Unsubscribe=One-Click",
    )
}

async fn status(env: &Env, id: DraftId) -> DraftStatus {
    env.store.get_draft(id).await.unwrap().status
}

async fn unsubscribed_outcomes(store: &DynStore, email: &EmailAddress) -> usize {
    store
        .list_outcomes(&OutcomeFilter {
            contact: Some(email.clone()),
            types: vec![OutcomeType::EmailUnsubscribed],
            ..OutcomeFilter::default()
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn rendered_mail_points_at_the_one_click_route() {
    let env = env_with(host_config());
    let d = draft_to(&env, "jane@acme.io").await;
    let mut mime = MimeOptions::new(Domain::parse("seller.dev").unwrap());
    configure_mime(&mut mime, env.state.config(), &env.store)
        .await
        .unwrap();
    let m = render(
        &d,
        &MessageId::parse("a.1@seller.dev").unwrap(),
        env.now(),
        &mime,
    )
    .unwrap();
    let raw = String::from_utf8(m.raw).unwrap().replace("\r\n ", " ");
    let list = raw
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: "))
        .expect("List-Unsubscribe");
    let path = link_path(&env, &d).await;
    assert_eq!(
        list,
        format!("<mailto:sam@seller.dev?subject=unsubscribe>, <{PUBLIC}{path}>")
    );
    assert!(
        raw.lines()
            .any(|l| l == "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    );
    assert!(!path.contains("jane"), "no plain address in the link");

    // Without a public URL (or with a plain-http one) mail carries the mailto: only.
    for public_url in [None, Some("http://localhost:8080".to_owned())] {
        let env = env_with(HostConfig {
            public_url,
            ..host_config()
        });
        let mut mime = MimeOptions::new(Domain::parse("seller.dev").unwrap());
        configure_mime(&mut mime, env.state.config(), &env.store)
            .await
            .unwrap();
        assert!(mime.unsubscribe.one_click.is_none());
        assert_eq!(
            mime.unsubscribe.uris(&d),
            vec!["mailto:sam@seller.dev?subject=unsubscribe".to_owned()]
        );
    }
}

#[tokio::test]
async fn one_click_post_suppresses_stops_open_drafts_and_is_idempotent() {
    let env = env_with(host_config());
    let jane = addr("jane@acme.io");
    let first = draft_to(&env, "jane@acme.io").await;
    let second = draft_to(&env, "Jane@Acme.io").await;
    let other = draft_to(&env, "bob@acme.io").await;
    let path = link_path(&env, &first).await;

    // The confirmation page changes nothing; its button posts the one-click body here.
    let page = env
        .send(Request::get(&path).body(Body::empty()).unwrap())
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    let html = text(page).await;
    let token = path.rsplit('/').next().unwrap();
    assert!(html.contains(&format!("action=\"{token}\"")), "{html}");
    assert!(html.contains("name=\"List-Unsubscribe\" value=\"One-Click\""));
    assert!(!html.contains("jane"), "the page does not show the address");
    assert!(env.store.suppression(&jane).await.unwrap().is_none());
    assert_eq!(status(&env, first.id).await, DraftStatus::Pending);

    // A POST without the one-click body is refused and changes nothing.
    for (ct, body) in [
        ("application/x-www-form-urlencoded", ""),
        ("application/x-www-form-urlencoded", "List-Unsubscribe=Yes"),
        ("application/json", "{\"List-Unsubscribe\":\"One-Click\"}"),
    ] {
        let resp = env.send(one_click_post(&path, ct, body)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{ct} {body:?}");
    }
    let huge = format!("List-Unsubscribe=One-Click&pad={}", "x".repeat(20 * 1024));
    let resp = env
        .send(one_click_post(
            &path,
            "application/x-www-form-urlencoded",
            &huge,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(env.store.suppression(&jane).await.unwrap().is_none());

    let resp = env.send(form_post(&path)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get(header::SET_COOKIE).is_none());
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(text(resp).await.contains("unsubscribed"));

    let s = env
        .store
        .suppression(&jane)
        .await
        .unwrap()
        .expect("suppressed");
    assert_eq!(s.reason, SuppressionReason::Unsubscribed);
    for id in [first.id, second.id] {
        let stopped = env.store.get_draft(id).await.unwrap();
        assert_eq!(stopped.status, DraftStatus::Rejected, "stopped");
        assert_eq!(
            stopped.status_reason.as_deref(),
            Some("stopped: email_unsubscribed")
        );
    }
    assert_eq!(status(&env, other.id).await, DraftStatus::Pending);
    assert!(
        env.store
            .suppression(&addr("bob@acme.io"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(unsubscribed_outcomes(&env.store, &jane).await, 1);

    // Again (providers retry; people click twice): 200, nothing more recorded.
    let again = env.send(form_post(&path)).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(unsubscribed_outcomes(&env.store, &jane).await, 1);
    // The link in the other mail to the same address works too.
    let resp = env.send(form_post(&link_path(&env, &second).await)).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn multipart_one_click_bodies_are_accepted() {
    let env = env_with(host_config());
    let d = draft_to(&env, "ann@helix.io").await;
    let body = "--b0undary\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b0undary--\r\n";
    let resp = env
        .send(one_click_post(
            &link_path(&env, &d).await,
            "multipart/form-data; boundary=b0undary",
            body,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        env.store
            .suppression(&addr("ann@helix.io"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn anything_but_a_genuine_token_is_a_bare_404() {
    let env = env_with(host_config());
    let d = draft_to(&env, "jane@acme.io").await;
    let path = link_path(&env, &d).await;
    let token = path.rsplit('/').next().unwrap().to_owned();

    let mut flipped = token.clone().into_bytes();
    flipped[30] = if flipped[30] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let other_secret = UnsubscribeSecret::new(&SecretString::from(
        "some-other-secret-0123456789".to_owned(),
    ))
    .unwrap();
    let secret = unsubscribe_secret(env.state.config(), &env.store)
        .await
        .unwrap();
    let foreign = UnsubscribeToken::for_draft(&other_secret, &d).encode();
    let other_address = UnsubscribeToken::mint(&secret, d.id, &addr("bob@acme.io")).encode();
    let no_such_draft = UnsubscribeToken::mint(&secret, DraftId::new(), &d.contact_email).encode();
    let long = "A".repeat(5000);
    let bad = [
        flipped.as_str(),
        &token[..token.len() - 1],
        foreign.as_str(),
        other_address.as_str(),
        no_such_draft.as_str(),
        "not-a-token",
        "%2e%2e%2f%2e%2e%2f",
        long.as_str(),
    ];
    let mut bodies = std::collections::BTreeSet::new();
    for t in bad {
        let p = format!("/unsubscribe/{t}");
        let resp = env.send(form_post(&p)).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "POST {t:?}");
        bodies.insert(text(resp).await);
        let resp = env
            .send(Request::get(&p).body(Body::empty()).unwrap())
            .await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "GET {t:?}");
        bodies.insert(text(resp).await);
    }
    assert_eq!(bodies.len(), 1, "one answer whatever failed: {bodies:?}");
    assert!(
        env.store
            .suppression(&d.contact_email)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.store
            .suppression(&addr("bob@acme.io"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(status(&env, d.id).await, DraftStatus::Pending);
}

#[tokio::test]
async fn without_a_configured_secret_one_is_kept_in_the_store() {
    let env = env_with(HostConfig {
        unsubscribe_secret: None,
        ..host_config()
    });
    let d = draft_to(&env, "jane@acme.io").await;
    let path = link_path(&env, &d).await;
    assert_eq!(path, link_path(&env, &d).await, "stable across calls");
    // A restarted host over the same store (a new AppState) accepts the old link.
    let restarted = salesagent::host::AppState::new(
        env.store.clone(),
        env.clock.clone(),
        HostConfig {
            unsubscribe_secret: None,
            ..host_config()
        },
    );
    let resp = salesagent::host::app(restarted)
        .oneshot_request(form_post(&path))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    // The configured secret is never printed.
    let shown = format!("{:?}", host_config());
    assert!(!shown.contains(UNSUB_SECRET), "{shown}");
}

/// `oneshot` without importing tower in every test.
trait Oneshot {
    async fn oneshot_request(self, req: Request<Body>) -> axum::response::Response;
}

impl Oneshot for axum::Router {
    async fn oneshot_request(self, req: Request<Body>) -> axum::response::Response {
        use tower::ServiceExt as _;
        self.oneshot(req).await.unwrap()
    }
}
