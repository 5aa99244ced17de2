//! `from_env` builders read the documented variables (through a lookup, so tests do not touch
//! the process environment) and `with_base_url` points every connector at a mock server.

use salesagent_connectors::calendar::GoogleCalendarBuilder;
use salesagent_connectors::drive::GoogleDriveBuilder;
use salesagent_connectors::gmail::GmailBuilder;
use salesagent_connectors::google_oauth::GoogleOAuthBuilder;
use salesagent_connectors::http::{Authorizer, HttpConfig, StaticBearer};
use salesagent_connectors::hubspot::HubSpotBuilder;
use salesagent_core::ports::SecretStore;
use salesagent_core::testing::{ManualClock, MemoryStore};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::sync::Arc;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn lookup(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    move |k| map.get(k).cloned()
}

fn quiet() -> HttpConfig {
    HttpConfig {
        rate_limit: None,
        ..HttpConfig::default()
    }
}

#[tokio::test]
async fn hubspot_from_env() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .and(header("authorization", "Bearer pat-from-env"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"total":0,"results":[]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let b = HubSpotBuilder::from_lookup(lookup(&[
        ("HUBSPOT_API_KEY", "legacy".into()),
        ("HUBSPOT_ACCESS_TOKEN", "pat-from-env".into()),
        ("HUBSPOT_BASE_URL", server.uri()),
        ("HUBSPOT_CLIENT_SECRET", "s".into()),
    ]));
    assert!(b.is_configured());
    b.with_http_config(quiet())
        .build()
        .unwrap()
        .check()
        .await
        .unwrap();
    let legacy = HubSpotBuilder::from_lookup(lookup(&[("HUBSPOT_API_KEY", "legacy".into())]));
    assert!(legacy.is_configured());
    let none = HubSpotBuilder::from_lookup(lookup(&[("HUBSPOT_ACCESS_TOKEN", "  ".into())]));
    assert!(!none.is_configured());
    assert_eq!(none.build().unwrap_err().kind(), "invalid_input");
    let bad = HubSpotBuilder::default()
        .with_token("t")
        .with_base_url("not a url");
    assert_eq!(bad.build().unwrap_err().kind(), "invalid_input");
}

#[tokio::test]
async fn google_from_env() {
    let server = MockServer::start().await;
    let store = Arc::new(MemoryStore::new(
        ManualClock::new(ManualClock::default_start()).shared(),
    ));
    let oauth = GoogleOAuthBuilder::from_lookup(lookup(&[
        ("GOOGLE_CLIENT_ID", "id".into()),
        ("GOOGLE_CLIENT_SECRET", "secret".into()),
        ("GOOGLE_REDIRECT_URI", "http://127.0.0.1/cb".into()),
        ("GOOGLE_TOKEN_URL", format!("{}/token", server.uri())),
    ]));
    assert!(oauth.is_configured());
    oauth.build(store.clone()).unwrap();
    let missing = GoogleOAuthBuilder::from_lookup(lookup(&[("GOOGLE_CLIENT_ID", "id".into())]));
    assert!(!missing.is_configured());
    assert_eq!(
        missing.build(store.clone()).unwrap_err().kind(),
        "invalid_input"
    );
    assert!(store.token("nobody").await.unwrap().is_none());

    let env = lookup(&[("GOOGLE_API_BASE_URL", server.uri())]);
    let auth: Arc<dyn Authorizer> =
        Arc::new(StaticBearer::new("google", SecretString::from("tok")));
    for p in ["/gmail/v1/users/me/profile", "/drive/v3/files"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/calendar/v3/freeBusy"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"calendars":{"primary":{"busy":[]}}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let gmail = GmailBuilder::from_lookup(&env);
    assert!(gmail.is_configured());
    gmail
        .with_authorizer(auth.clone())
        .with_http_config(quiet())
        .build()
        .unwrap()
        .check()
        .await
        .unwrap();
    let drive = GoogleDriveBuilder::from_lookup(&env);
    assert!(drive.is_configured());
    drive
        .with_authorizer(auth.clone())
        .with_http_config(quiet())
        .build()
        .unwrap()
        .check()
        .await
        .unwrap();
    let cal = GoogleCalendarBuilder::from_lookup(&env);
    assert!(cal.is_configured());
    cal.with_authorizer(auth.clone())
        .with_http_config(quiet())
        .build()
        .unwrap()
        .check()
        .await
        .unwrap();
    assert!(!GmailBuilder::from_lookup(lookup(&[])).is_configured());
    assert_eq!(
        GmailBuilder::default().build().unwrap_err().kind(),
        "invalid_input"
    );
}

/// An authorizer that hands out `v{n}` tokens and counts refreshes.
#[derive(Debug, Default)]
struct Rotating(std::sync::atomic::AtomicU32);

#[async_trait::async_trait]
impl Authorizer for Rotating {
    async fn bearer(&self) -> salesagent_core::Result<SecretString> {
        let n = self.0.load(std::sync::atomic::Ordering::SeqCst);
        Ok(SecretString::from(format!("v{n}")))
    }
    async fn refresh_after_rejection(
        &self,
        _rejected: &SecretString,
    ) -> salesagent_core::Result<()> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn hubspot_with_a_refreshing_authorizer_refreshes_once_on_401() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer v0"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "status":"error","message":"The OAuth token used to make this call expired.","correlationId":"c","category":"EXPIRED_AUTHENTICATION"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer v1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"total":0,"results":[]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let auth = Arc::new(Rotating::default());
    let hs = HubSpotBuilder::default()
        .with_authorizer(auth.clone())
        .with_base_url(server.uri())
        .with_http_config(quiet())
        .build()
        .unwrap();
    hs.check().await.unwrap();
    assert_eq!(auth.0.load(std::sync::atomic::Ordering::SeqCst), 1);
}
