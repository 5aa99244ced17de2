//! Google Drive and Calendar against a mock server; requests checked against, and fixtures
//! validated by, `contracts/google/{drive,calendar}.v3.discovery.json`.

mod common;

use chrono::{DateTime, Utc};
use common::spec::{Discovery, assert_all_follow};
use salesagent_connectors::calendar::GoogleCalendar;
use salesagent_connectors::drive::GoogleDrive;
use salesagent_connectors::http::{Authorizer, HttpConfig, RetryPolicy, StaticBearer};
use salesagent_core::model::{
    AttendeeResponse, DriveQuery, EmailAddress, EventStatus, FileId, Interval, NewEvent,
};
use salesagent_core::ports::{Calendar, Drive};
use secrecy::SecretString;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ya29.drive-calendar-token";

fn auth() -> Arc<dyn Authorizer> {
    Arc::new(StaticBearer::new("google", SecretString::from(TOKEN)))
}

fn http_config() -> HttpConfig {
    HttpConfig {
        retry: RetryPolicy {
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
            jitter: 0.5,
        },
        max_retries: 1,
        max_retry_after: Duration::from_secs(2),
        rate_limit: None,
        ..HttpConfig::default()
    }
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn drive(server: &MockServer) -> GoogleDrive {
    GoogleDrive::builder()
        .with_base_url(server.uri())
        .with_authorizer(auth())
        .with_http_config(http_config())
        .build()
        .unwrap()
}

fn calendar(server: &MockServer) -> GoogleCalendar {
    GoogleCalendar::builder()
        .with_base_url(server.uri())
        .with_authorizer(auth())
        .with_http_config(http_config())
        .build()
        .unwrap()
}

#[tokio::test]
async fn drive_search_get_export() {
    let disc = Discovery::load("google/drive.v3.discovery.json");
    let server = MockServer::start().await;
    let doc = json!({"id":"doc1","name":"Case study Acme","mimeType":"application/vnd.google-apps.document",
        "webViewLink":"https://docs.google.com/document/d/doc1/edit","description":"Acme","modifiedTime":"2026-11-20T10:00:00.000Z"});
    let pdf = json!({"id":"pdf1","name":"Pricing.pdf","mimeType":"application/pdf","size":"48213","modifiedTime":"2026-11-01T10:00:00Z"});
    let txt = json!({"id":"txt1","name":"notes.md","mimeType":"text/markdown","size":"12"});
    let list = json!({"kind":"drive#fileList","incompleteSearch":false,"files":[doc.clone(), pdf.clone()]});
    disc.check_schema("FileList", &list);
    for f in [&doc, &pdf, &txt] {
        disc.check_schema("File", f);
    }
    Mock::given(method("GET"))
        .and(path("/drive/v3/files"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param("q", "trashed = false and fullText contains 'case study' and (mimeType = 'application/pdf' or mimeType = 'application/vnd.google-apps.document')"))
        .and(query_param("pageSize", "5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&list))
        .expect(1)
        .mount(&server)
        .await;
    for (id, body) in [("doc1", &doc), ("pdf1", &pdf), ("txt1", &txt)] {
        Mock::given(method("GET"))
            .and(path(format!("/drive/v3/files/{id}")))
            .and(query_param(
                "fields",
                "id,name,mimeType,webViewLink,description,modifiedTime,size",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/drive/v3/files/doc1/export"))
        .and(query_param("mimeType", "text/plain"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("Acme cut onboarding time by 40 % — read how."),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/drive/v3/files/txt1"))
        .and(query_param("alt", "media"))
        .respond_with(ResponseTemplate::new(200).set_body_string("# notes\nhello"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/drive/v3/files/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error":{"code":404,"message":"File not found: gone.",
            "errors":[{"message":"File not found: gone.","domain":"global","reason":"notFound","location":"fileId","locationType":"parameter"}]}})))
        .mount(&server)
        .await;

    let d = drive(&server);
    let found = d
        .search(&DriveQuery {
            text: Some("case study".into()),
            name_contains: None,
            mime_types: vec![
                "application/pdf".into(),
                "application/vnd.google-apps.document".into(),
            ],
            limit: 5,
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0].web_link.as_deref(),
        Some("https://docs.google.com/document/d/doc1/edit")
    );
    assert_eq!(found[1].size, Some(48213));
    assert_eq!(
        d.get(&FileId::from("pdf1")).await.unwrap().name,
        "Pricing.pdf"
    );
    assert_eq!(
        d.get(&FileId::from("gone")).await.unwrap_err().kind(),
        "not_found"
    );
    // Capped on a character boundary: "—" is 3 bytes and would straddle byte 34.
    let text = d.export_text(&FileId::from("doc1"), 34).await.unwrap();
    assert!(
        text.len() <= 34 && text.starts_with("Acme cut onboarding"),
        "{text:?}"
    );
    assert_eq!(
        d.export_text(&FileId::from("txt1"), 1000).await.unwrap(),
        "# notes\nhello"
    );
    assert_eq!(
        d.export_text(&FileId::from("pdf1"), 1000)
            .await
            .unwrap_err()
            .kind(),
        "unsupported"
    );
    assert_all_follow(&server, |r| disc.check_request(r)).await;
}

#[tokio::test]
async fn calendar_free_busy_events_and_holds() {
    let disc = Discovery::load("google/calendar.v3.discovery.json");
    let server = MockServer::start().await;
    let fb = json!({"kind":"calendar#freeBusy","timeMin":"2026-11-30T08:00:00.000Z","timeMax":"2026-11-30T18:00:00.000Z",
        "calendars":{"primary":{"busy":[{"start":"2026-11-30T13:00:00Z","end":"2026-11-30T14:00:00Z"},
                                        {"start":"2026-11-30T09:00:00Z","end":"2026-11-30T09:30:00Z"}]}}});
    disc.check_schema("FreeBusyResponse", &fb);
    Mock::given(method("POST"))
        .and(path("/calendar/v3/freeBusy"))
        .and(body_partial_json(json!({"timeMin":"2026-11-30T08:00:00Z","timeMax":"2026-11-30T18:00:00Z","items":[{"id":"primary"}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(&fb))
        .expect(1)
        .mount(&server)
        .await;
    let events = json!({"kind":"calendar#events","summary":"seller@seller.io","timeZone":"Europe/Berlin","items":[
        {"id":"ev2","status":"cancelled","summary":"Demo (moved)","start":{"dateTime":"2026-11-30T15:00:00+01:00"},"end":{"dateTime":"2026-11-30T15:30:00+01:00"},
         "created":"2026-11-20T10:00:00.000Z","updated":"2026-11-25T10:00:00.000Z"},
        {"id":"ev1","status":"confirmed","summary":"Demo with Acme","start":{"dateTime":"2026-11-30T10:00:00+01:00","timeZone":"Europe/Berlin"},
         "end":{"dateTime":"2026-11-30T10:30:00+01:00"},"attendees":[{"email":"ann@acme.io","responseStatus":"accepted"},{"email":"not an address","responseStatus":"declined"}],
         "created":"2026-11-20T10:00:00.000Z","updated":"2026-11-21T10:00:00.000Z"},
        {"id":"ev3","status":"cancelled"}]});
    disc.check_schema("Events", &events);
    Mock::given(method("GET"))
        .and(path("/calendar/v3/calendars/primary/events"))
        .and(query_param("singleEvents", "true"))
        .and(query_param("showDeleted", "true"))
        .and(query_param("timeMin", "2026-11-30T08:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&events))
        .expect(1)
        .mount(&server)
        .await;
    let created = json!({"id":"hold1","status":"tentative","summary":"Hold: Acme demo","description":"Proposed slot",
        "start":{"dateTime":"2026-12-01T10:00:00Z"},"end":{"dateTime":"2026-12-01T10:30:00Z"},
        "attendees":[{"email":"ann@acme.io","responseStatus":"needsAction"}],"created":"2026-11-26T10:00:00.000Z","updated":"2026-11-26T10:00:00.000Z"});
    disc.check_schema("Event", &created);
    Mock::given(method("POST"))
        .and(path("/calendar/v3/calendars/primary/events"))
        .and(query_param("sendUpdates", "none"))
        .and(body_partial_json(json!({"summary":"Hold: Acme demo","status":"tentative",
            "start":{"dateTime":"2026-12-01T10:00:00Z"},"end":{"dateTime":"2026-12-01T10:30:00Z"},"attendees":[{"email":"ann@acme.io"}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(&created))
        .expect(1)
        .mount(&server)
        .await;

    let c = calendar(&server);
    let day = Interval {
        start: t("2026-11-30T08:00:00Z"),
        end: t("2026-11-30T18:00:00Z"),
    };
    let busy = c.free_busy(day).await.unwrap();
    assert_eq!(busy.len(), 2);
    assert!(busy[0].start < busy[1].start, "sorted by start");
    let ev = c.events(day).await.unwrap();
    assert_eq!(
        ev.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["ev1", "ev2"]
    );
    assert_eq!(ev[0].interval.start, t("2026-11-30T09:00:00Z"));
    assert_eq!(ev[0].attendees.len(), 1);
    assert_eq!(ev[0].attendees[0].response, AttendeeResponse::Accepted);
    assert_eq!(ev[1].status, EventStatus::Cancelled);
    let hold = c
        .insert_event(&NewEvent {
            summary: "Hold: Acme demo".into(),
            description: "Proposed slot".into(),
            interval: Interval {
                start: t("2026-12-01T10:00:00Z"),
                end: t("2026-12-01T10:30:00Z"),
            },
            attendees: vec![EmailAddress::parse("ann@acme.io").unwrap()],
            status: EventStatus::Tentative,
        })
        .await
        .unwrap();
    assert_eq!(hold.status, EventStatus::Tentative);
    let backwards = Interval {
        start: day.end,
        end: day.start,
    };
    assert_eq!(
        c.free_busy(backwards).await.unwrap_err().kind(),
        "invalid_input"
    );
    assert_all_follow(&server, |r| disc.check_request(r)).await;
}
