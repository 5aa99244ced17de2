//! HubSpot webhook requests, as pure functions the webhook host can call: signature
//! verification (v1, v2, v3, `contracts/hubspot/SIGNATURE.md`) and payload parsing
//! (workflow contact payloads and Webhooks-API event arrays, `contracts/hubspot/WEBHOOKS.md`).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use salesagent_core::model::{
    Contact, CrmId, FormSubmission, LeadFields, SubmissionId, SubmissionSource, clean_line,
};
use salesagent_core::pipeline::CrmContactEventJob;
use salesagent_core::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// Oldest accepted v3 timestamp, in milliseconds before now.
pub const MAX_AGE_MS: i64 = 300_000;
/// Furthest accepted v3 timestamp in the future (clock skew), in milliseconds.
pub const MAX_SKEW_MS: i64 = 60_000;

/// Which recipe signed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// SHA-256 of secret + body.
    V1,
    /// SHA-256 of secret + method + URI + body.
    V2,
    /// HMAC-SHA256 of method + URI + body + timestamp.
    V3,
}

/// The parts of a webhook request that signatures cover. Header values are as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookRequest<'a> {
    /// HTTP method, upper-case.
    pub method: &'a str,
    /// The full public URL HubSpot called (scheme, host, path, query).
    pub uri: &'a str,
    /// The raw body bytes.
    pub body: &'a [u8],
    /// `X-HubSpot-Signature`.
    pub signature: Option<&'a str>,
    /// `X-HubSpot-Signature-Version`.
    pub signature_version: Option<&'a str>,
    /// `X-HubSpot-Signature-v3`.
    pub signature_v3: Option<&'a str>,
    /// `X-HubSpot-Request-Timestamp`.
    pub timestamp: Option<&'a str>,
}

impl<'a> WebhookRequest<'a> {
    /// Builds a request from (name, value) header pairs; names are matched case-insensitively.
    pub fn from_headers<I>(method: &'a str, uri: &'a str, body: &'a [u8], headers: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut r = Self {
            method,
            uri,
            body,
            ..Self::default()
        };
        for (name, value) in headers {
            match name.to_ascii_lowercase().as_str() {
                "x-hubspot-signature" => r.signature = Some(value),
                "x-hubspot-signature-version" => r.signature_version = Some(value),
                "x-hubspot-signature-v3" => r.signature_v3 = Some(value),
                "x-hubspot-request-timestamp" => r.timestamp = Some(value),
                _ => {}
            }
        }
        r
    }
}

fn rejected(why: &str) -> Error {
    Error::unauthenticated(format!("hubspot webhook signature rejected: {why}"))
}

/// Verifies a request: v3 when its header is present, otherwise v1/v2 per the version header
/// (missing version = v1). Any failure is `Unauthenticated` without revealing the expected value.
pub fn verify(
    secret: &SecretString,
    req: &WebhookRequest<'_>,
    now: DateTime<Utc>,
) -> Result<SignatureVersion> {
    if let Some(sig) = req.signature_v3 {
        let ts = req
            .timestamp
            .ok_or_else(|| rejected("missing X-HubSpot-Request-Timestamp"))?;
        verify_v3(secret, req.method, req.uri, req.body, ts, sig, now)?;
        return Ok(SignatureVersion::V3);
    }
    let sig = req
        .signature
        .ok_or_else(|| rejected("no signature header"))?;
    match req.signature_version.map(str::trim).unwrap_or("v1") {
        "v1" => verify_v1(secret, req.body, sig).map(|()| SignatureVersion::V1),
        "v2" => {
            verify_v2(secret, req.method, req.uri, req.body, sig).map(|()| SignatureVersion::V2)
        }
        _ => Err(rejected("unknown signature version")),
    }
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    salesagent_core::encoding::to_hex(&h.finalize())
}

fn hex_matches(expected: &str, header: &str) -> bool {
    let got = header.trim().to_ascii_lowercase();
    // Lengths are public (always 64); ct_eq on unequal lengths is false.
    bool::from(expected.as_bytes().ct_eq(got.as_bytes()))
}

/// v1: `hex(SHA-256(secret + body))`.
pub fn verify_v1(secret: &SecretString, body: &[u8], header: &str) -> Result<()> {
    let expected = sha256_hex(&[secret.expose_secret().as_bytes(), body]);
    if hex_matches(&expected, header) {
        Ok(())
    } else {
        Err(rejected("v1 mismatch"))
    }
}

/// v2: `hex(SHA-256(secret + method + uri + body))`.
pub fn verify_v2(
    secret: &SecretString,
    method: &str,
    uri: &str,
    body: &[u8],
    header: &str,
) -> Result<()> {
    let expected = sha256_hex(&[
        secret.expose_secret().as_bytes(),
        method.as_bytes(),
        uri.as_bytes(),
        body,
    ]);
    if hex_matches(&expected, header) {
        Ok(())
    } else {
        Err(rejected("v2 mismatch"))
    }
}

/// Decodes only the escapes HubSpot's v3 recipe lists (`%3A`, `%2F`, `%3F`, `%40`, `%21`,
/// `%24`, `%27`, `%28`, `%29`, `%2A`, `%2C`, `%3B`); everything else stays as received.
#[must_use]
pub fn decode_v3_uri(uri: &str) -> String {
    const TABLE: &[(&str, char)] = &[
        ("3A", ':'),
        ("2F", '/'),
        ("3F", '?'),
        ("40", '@'),
        ("21", '!'),
        ("24", '$'),
        ("27", '\''),
        ("28", '('),
        ("29", ')'),
        ("2A", '*'),
        ("2C", ','),
        ("3B", ';'),
    ];
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos + 1..];
        let hex = tail.get(..2).map(str::to_ascii_uppercase);
        match hex.and_then(|h| TABLE.iter().find(|(code, _)| *code == h)) {
            Some((_, c)) => {
                out.push(*c);
                rest = &tail[2..];
            }
            None => {
                out.push('%');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// v3: `base64(HMAC-SHA256(secret, method + decoded_uri + body + timestamp))`, rejecting
/// timestamps older than 5 minutes (or more than a minute ahead of `now`).
pub fn verify_v3(
    secret: &SecretString,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp: &str,
    header: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| rejected("timestamp is not an integer"))?;
    let age = now.timestamp_millis().saturating_sub(ts);
    if age > MAX_AGE_MS {
        return Err(rejected("timestamp older than 5 minutes"));
    }
    if age < -MAX_SKEW_MS {
        return Err(rejected("timestamp in the future"));
    }
    let got = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .map_err(|_| rejected("v3 header is not base64"))?;
    if got.len() != 32 {
        return Err(rejected("v3 header has the wrong length"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|_| rejected("unusable secret"))?;
    let uri = decode_v3_uri(uri);
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    let expected = mac.finalize().into_bytes();
    if bool::from(expected.as_slice().ct_eq(&got)) {
        Ok(())
    } else {
        Err(rejected("v3 mismatch"))
    }
}

/// Verifies the signature, then parses the body: what the webhook host calls per request.
/// A bad signature is `Unauthenticated`; a bad body `InvalidInput`.
pub fn verify_and_parse(
    secret: &SecretString,
    req: &WebhookRequest<'_>,
    now: DateTime<Utc>,
) -> Result<ParsedWebhook> {
    verify(secret, req, now)?;
    let body = std::str::from_utf8(req.body).map_err(|_| Error::invalid("body", "is not UTF-8"))?;
    parse_payload(body, now)
}

/// A Webhooks-API contact event (`contact.creation`, `contact.propertyChange`, or a generic
/// `object.*` event on contacts). It names a contact; the submission needs the contact's data,
/// see [`ContactEvent::to_submission`] and `HubSpot::submission_for_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactEvent {
    /// `eventId`.
    pub event_id: String,
    /// `subscriptionId`.
    pub subscription_id: String,
    /// `portalId`.
    pub portal_id: Option<String>,
    /// `subscriptionType`.
    pub subscription_type: String,
    /// `objectId` of the contact.
    pub object_id: String,
    /// `occurredAt`.
    pub occurred_at: Option<DateTime<Utc>>,
    /// `changeSource` (`FORM` for form submissions).
    pub change_source: Option<String>,
    /// `propertyName` for property changes.
    pub property_name: Option<String>,
    /// `propertyValue` for property changes.
    pub property_value: Option<String>,
    /// This event's JSON exactly as received.
    pub raw: String,
}

impl ContactEvent {
    /// The idempotency key: `hubspot-event:{subscriptionId}:{eventId}` (attempts excluded).
    #[must_use]
    pub fn idempotency_key(&self) -> String {
        format!("hubspot-event:{}:{}", self.subscription_id, self.event_id)
    }

    /// Builds the submission from the contact the event names
    /// ([`FormSubmission::from_crm_contact`], source [`SubmissionSource::HubspotEvent`], key
    /// [`ContactEvent::idempotency_key`], `raw` this event as received).
    pub fn to_submission(
        &self,
        contact: &Contact,
        received_at: DateTime<Utc>,
    ) -> Result<FormSubmission> {
        FormSubmission::from_crm_contact(
            contact,
            SubmissionSource::HubspotEvent,
            &self.idempotency_key(),
            self.occurred_at,
            received_at,
            self.raw.clone(),
        )
    }

    /// The durable job that turns this event into a submission in a worker (kind
    /// `crm_contact_event`): contact id, idempotency key, time and the raw event.
    #[must_use]
    pub fn to_job_payload(&self) -> CrmContactEventJob {
        CrmContactEventJob {
            contact_id: CrmId::new(self.object_id.clone()),
            idempotency_key: self.idempotency_key(),
            occurred_at: self.occurred_at,
            raw: self.raw.clone(),
            source: SubmissionSource::HubspotEvent,
        }
    }
}

/// What a webhook body contained.
#[derive(Debug, Clone, Default)]
pub struct ParsedWebhook {
    /// Submissions that could be built from the payload alone (workflow contact payloads).
    pub submissions: Vec<FormSubmission>,
    /// Contact events that need the contact read from the CRM.
    pub events: Vec<ContactEvent>,
    /// Events of other types (deletions, merges, companies), skipped.
    pub ignored: usize,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        // Legacy contact format: {"value": "..."}.
        Value::Object(o) => o.get("value").and_then(text),
        _ => None,
    }
}

fn time_of(v: Option<&String>) -> Option<DateTime<Utc>> {
    v.and_then(|s| super::client::parse_time(s))
}

/// Parses a webhook body: a JSON array is a Webhooks-API event batch, a JSON object a workflow
/// "send a webhook" contact payload (properties either under `properties` — plain strings or
/// `{"value": ..}` objects — or at the top level). `raw` is kept verbatim in each result.
/// Malformed JSON or a payload without a valid e-mail is `InvalidInput`.
pub fn parse_payload(raw: &str, received_at: DateTime<Utc>) -> Result<ParsedWebhook> {
    let trimmed = raw.trim_start();
    if trimmed.starts_with('[') {
        let items: Vec<Box<RawValue>> =
            serde_json::from_str(raw).map_err(|e| Error::invalid("body", e.to_string()))?;
        let mut out = ParsedWebhook::default();
        for item in items {
            let v: Value = serde_json::from_str(item.get())
                .map_err(|e| Error::invalid("body", e.to_string()))?;
            match contact_event(&v, item.get()) {
                Some(e) => out.events.push(e),
                None => out.ignored += 1,
            }
        }
        return Ok(out);
    }
    let v: Value = serde_json::from_str(raw).map_err(|e| Error::invalid("body", e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::invalid("body", "expected a JSON object or array"))?;
    let submission = workflow_submission(obj, raw, received_at)?;
    Ok(ParsedWebhook {
        submissions: vec![submission],
        ..ParsedWebhook::default()
    })
}

fn contact_event(v: &Value, raw: &str) -> Option<ContactEvent> {
    let o = v.as_object()?;
    let kind = o.get("subscriptionType").and_then(Value::as_str)?;
    let is_contact = kind.starts_with("contact.")
        || (kind.starts_with("object.")
            && o.get("objectTypeId").and_then(Value::as_str) == Some("0-1"));
    let action = kind.split_once('.').map(|(_, a)| a)?;
    if !is_contact || !matches!(action, "creation" | "propertyChange") {
        return None;
    }
    let occurred_at = o
        .get("occurredAt")
        .and_then(Value::as_i64)
        .and_then(DateTime::from_timestamp_millis);
    Some(ContactEvent {
        event_id: o.get("eventId").and_then(text)?,
        subscription_id: o.get("subscriptionId").and_then(text).unwrap_or_default(),
        portal_id: o.get("portalId").and_then(text),
        subscription_type: kind.to_owned(),
        object_id: o.get("objectId").and_then(text)?,
        occurred_at,
        change_source: o.get("changeSource").and_then(text),
        property_name: o.get("propertyName").and_then(text),
        property_value: o.get("propertyValue").and_then(text),
        raw: raw.to_owned(),
    })
}

fn workflow_submission(
    obj: &Map<String, Value>,
    raw: &str,
    received_at: DateTime<Utc>,
) -> Result<FormSubmission> {
    let props = match obj.get("properties") {
        Some(Value::Object(p)) => p,
        _ => obj,
    };
    let mut fields: BTreeMap<String, String> = props
        .iter()
        .filter_map(|(k, v)| text(v).map(|t| (k.clone(), t)))
        .collect();
    if let Some(tz) = fields.remove("hs_timezone") {
        fields.entry("timezone".into()).or_insert(tz);
    }
    let lead = LeadFields::from_fields(&fields)?;
    let id = ["vid", "objectId", "hs_object_id", "id"]
        .iter()
        .find_map(|k| obj.get(*k).or_else(|| props.get(*k)).and_then(text));
    let conversion = fields
        .get("recent_conversion_date")
        .or_else(|| fields.get("lastmodifieddate"))
        .cloned();
    let key = match (&id, &conversion) {
        (Some(id), Some(c)) => format!("hubspot-workflow:{id}:{c}"),
        (Some(id), None) => format!("hubspot-workflow:{id}:{}", sha256_hex(&[raw.as_bytes()])),
        (None, _) => format!("hubspot-workflow:{}", sha256_hex(&[raw.as_bytes()])),
    };
    let submitted_at = time_of(fields.get("recent_conversion_date"))
        .or_else(|| time_of(fields.get("createdate")))
        .unwrap_or(received_at);
    let form_id = ["form_id", "formId", "recent_conversion_event_name"]
        .iter()
        .find_map(|k| fields.get(*k))
        .map(|s| clean_line(s))
        .filter(|s| !s.is_empty());
    let page_url = ["page_url", "pageUrl"]
        .iter()
        .find_map(|k| fields.get(*k))
        .map(|s| clean_line(s))
        .filter(|s| !s.is_empty());
    Ok(FormSubmission {
        id: SubmissionId::new(),
        idempotency_key: key,
        source: SubmissionSource::HubspotWorkflow,
        form_id,
        page_url,
        submitted_at,
        received_at,
        lead,
        raw: raw.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsing_and_verifying_never_panic(body in "\\PC{0,200}", sig in "\\PC{0,80}", ts in "\\PC{0,20}", ms in any::<i64>()) {
            let now = DateTime::from_timestamp_millis(ms.rem_euclid(4_000_000_000_000)).unwrap();
            let _ = parse_payload(&body, now);
            let s = secret("k");
            let req = WebhookRequest::from_headers("POST", "https://x.test/h?a=%40", body.as_bytes(),
                [("X-HubSpot-Signature-v3", sig.as_str()), ("X-HubSpot-Request-Timestamp", ts.as_str())]);
            prop_assert!(verify(&s, &req, now).is_err());
            let req = WebhookRequest::from_headers("POST", "https://x.test/h", body.as_bytes(),
                [("X-HubSpot-Signature", sig.as_str()), ("X-HubSpot-Signature-Version", "v2")]);
            prop_assert!(verify(&s, &req, now).is_err());
        }
    }

    #[test]
    fn verify_then_parse() {
        let s = secret("k");
        let body = r#"{"email":"ann@acme.io"}"#;
        let ts = "1735689600000";
        let now = at_ms(1_735_689_601_000);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(format!("POSThttps://x.test/h{body}{ts}").as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let req = WebhookRequest::from_headers(
            "POST",
            "https://x.test/h",
            body.as_bytes(),
            [
                ("x-hubspot-signature-v3", sig.as_str()),
                ("x-hubspot-request-timestamp", ts),
            ],
        );
        let parsed = verify_and_parse(&s, &req, now).unwrap();
        assert_eq!(parsed.submissions.len(), 1);
        assert_eq!(
            verify_and_parse(&secret("other"), &req, now)
                .unwrap_err()
                .kind(),
            "unauthenticated"
        );
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn at_ms(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn v3_decoding_only_touches_listed_escapes() {
        assert_eq!(
            decode_v3_uri("https://h.test/p?e=a%40b.com&s=a%20b&x=%3a%2F%zz%"),
            "https://h.test/p?e=a@b.com&s=a%20b&x=:/%zz%"
        );
    }

    #[test]
    fn truncated_and_garbage_headers_fail() {
        let s = secret("test-client-secret");
        let v1 = "8ac950188678f9bb3524b275130332b511bf5092394da6975b5fb9e84302f026";
        assert!(verify_v1(&s, b"", v1).is_ok());
        assert!(verify_v1(&s, b"", &v1[..63]).is_err());
        assert!(verify_v1(&s, b"", "").is_err());
        let v3 = "ueSbqxTm29ee6EOC4A86sZaM2sqsxlvOjWpiY5ctrFg=";
        let uri = "https://hooks.example.test/hubspot/card?portalId=123&userEmail=a%40b.com";
        let now = at_ms(1_735_689_600_000 + 1000);
        assert!(verify_v3(&s, "GET", uri, b"", "1735689600000", v3, now).is_ok());
        assert!(verify_v3(&s, "GET", uri, b"", "1735689600000", &v3[..40], now).is_err());
        assert!(verify_v3(&s, "GET", uri, b"", "1735689600000", "%%%", now).is_err());
        assert!(verify_v3(&s, "GET", uri, b"", "nope", v3, now).is_err());
    }

    #[test]
    fn workflow_payload_both_shapes() {
        let now = at_ms(1_735_689_600_000);
        let legacy = r#"{"vid":501,"properties":{"email":{"value":"ann@acme.io"},"firstname":{"value":"Ann"},"recent_conversion_date":{"value":"1735689000000"},"hs_timezone":{"value":"Europe/Berlin"}}}"#;
        let p = parse_payload(legacy, now).unwrap();
        let s = &p.submissions[0];
        assert_eq!(s.source, SubmissionSource::HubspotWorkflow);
        assert_eq!(s.idempotency_key, "hubspot-workflow:501:1735689000000");
        assert_eq!(s.lead.first_name.as_deref(), Some("Ann"));
        assert_eq!(s.lead.time_zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(s.submitted_at, at_ms(1_735_689_000_000));
        assert_eq!(s.raw, legacy);
        let flat = r#"{"hs_object_id":"77","email":"bob@beta.io","message":"Hi"}"#;
        let p = parse_payload(flat, now).unwrap();
        assert_eq!(p.submissions[0].lead.message.as_deref(), Some("Hi"));
        assert!(
            p.submissions[0]
                .idempotency_key
                .starts_with("hubspot-workflow:77:")
        );
        assert_eq!(
            parse_payload("{\"x\":1}", now).unwrap_err().kind(),
            "invalid_input"
        );
        assert_eq!(parse_payload("{", now).unwrap_err().kind(), "invalid_input");
        assert_eq!(
            parse_payload("42", now).unwrap_err().kind(),
            "invalid_input"
        );
    }
}
