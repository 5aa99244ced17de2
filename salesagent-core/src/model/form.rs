//! Lead form submissions: the raw payload kept verbatim, plus parsed, validated fields.

use super::{Contact, EmailAddress, SubmissionId};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest accepted single field value in bytes; longer values are truncated on a char boundary.
pub const MAX_FIELD_LEN: usize = 64 * 1024;

/// Where a submission came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionSource {
    /// The canonical JSON shape (`cli submit`, `POST /webhooks/forms`).
    Canonical,
    /// A HubSpot workflow "send a webhook" contact payload.
    HubspotWorkflow,
    /// A HubSpot Webhooks-API event.
    HubspotEvent,
}

/// The canonical form-submission document that `cli submit` and `POST /webhooks/forms` take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalSubmission {
    /// The idempotency key: the same id delivered twice is one submission.
    pub submission_id: String,
    /// Which form was filled in.
    #[serde(default)]
    pub form_id: Option<String>,
    /// When the lead submitted the form (RFC 3339).
    pub submitted_at: DateTime<Utc>,
    /// The page the form was on.
    #[serde(default)]
    pub page_url: Option<String>,
    /// The form fields; `email` is required, every value is a string.
    pub fields: BTreeMap<String, String>,
}

/// The lead's answers, parsed and validated. Every value is untrusted text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadFields {
    /// The lead's e-mail address (validated).
    pub email: EmailAddress,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Company name as typed.
    pub company: Option<String>,
    /// Job title as typed.
    pub job_title: Option<String>,
    /// Phone as typed.
    pub phone: Option<String>,
    /// Free-text message.
    pub message: Option<String>,
    /// Country as typed.
    pub country: Option<String>,
    /// IANA time zone, when the form captured one.
    pub time_zone: Option<String>,
    /// Every other field.
    pub extra: BTreeMap<String, String>,
}

/// A stored form submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormSubmission {
    /// Our id.
    pub id: SubmissionId,
    /// Idempotency key (the submission id the sender gave, prefixed by the source).
    pub idempotency_key: String,
    /// Where it came from.
    pub source: SubmissionSource,
    /// Form id, if given.
    pub form_id: Option<String>,
    /// Page URL, if given.
    pub page_url: Option<String>,
    /// When the lead submitted it.
    pub submitted_at: DateTime<Utc>,
    /// When we received it.
    pub received_at: DateTime<Utc>,
    /// Parsed fields.
    pub lead: LeadFields,
    /// The payload exactly as received.
    pub raw: String,
}

/// Keeps a field as a single line without control characters, trimmed and length-capped.
#[must_use]
pub fn clean_line(value: &str) -> String {
    let mut out: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    truncate_on_char_boundary(&mut out, 256);
    out
}

/// Cuts `s` to at most `max` bytes without splitting a character.
pub fn truncate_on_char_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

fn opt_line(v: Option<&String>) -> Option<String> {
    v.map(|s| clean_line(s)).filter(|s| !s.is_empty())
}

impl LeadFields {
    /// Parses the lead's fields from a flat string map (keys are matched case-insensitively
    /// with the common HubSpot names: `email`, `firstname`, `lastname`, `company`, `jobtitle`,
    /// `phone`, `message`, `country`, `timezone`).
    pub fn from_fields(fields: &BTreeMap<String, String>) -> Result<Self> {
        let mut lower: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in fields {
            let mut v = v.clone();
            truncate_on_char_boundary(&mut v, MAX_FIELD_LEN);
            lower.insert(k.trim().to_ascii_lowercase(), v);
        }
        let take = |names: &[&str]| names.iter().find_map(|n| lower.get(*n));
        let email_raw = take(&["email", "e-mail", "email_address"])
            .ok_or_else(|| Error::invalid("fields.email", "is missing"))?;
        let email = EmailAddress::parse(email_raw).map_err(|e| match e {
            Error::InvalidInput { reason, .. } => Error::invalid("fields.email", reason),
            other => other,
        })?;
        let known = [
            "email",
            "e-mail",
            "email_address",
            "firstname",
            "first_name",
            "lastname",
            "last_name",
            "company",
            "jobtitle",
            "job_title",
            "phone",
            "message",
            "country",
            "timezone",
            "time_zone",
        ];
        let extra = lower
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let message = take(&["message"])
            .map(|m| m.replace('\0', ""))
            .filter(|m| !m.trim().is_empty());
        Ok(Self {
            email,
            first_name: opt_line(take(&["firstname", "first_name"])),
            last_name: opt_line(take(&["lastname", "last_name"])),
            company: opt_line(take(&["company"])),
            job_title: opt_line(take(&["jobtitle", "job_title"])),
            phone: opt_line(take(&["phone"])),
            message,
            country: opt_line(take(&["country"])),
            time_zone: opt_line(take(&["timezone", "time_zone"])),
            extra,
        })
    }
}

impl FormSubmission {
    /// Parses the canonical JSON document, keeping `raw` verbatim.
    ///
    /// Errors are [`Error::InvalidInput`] naming the offending field.
    pub fn from_canonical_json(raw: &str, received_at: DateTime<Utc>) -> Result<Self> {
        let doc: CanonicalSubmission =
            serde_json::from_str(raw).map_err(|e| Error::invalid("body", e.to_string()))?;
        Self::from_canonical(doc, raw.to_owned(), received_at)
    }

    /// Builds a submission from an already-parsed canonical document and its raw text.
    pub fn from_canonical(
        doc: CanonicalSubmission,
        raw: String,
        received_at: DateTime<Utc>,
    ) -> Result<Self> {
        let key = doc.submission_id.trim();
        if key.is_empty() || key.len() > 256 || key.chars().any(char::is_control) {
            return Err(Error::invalid(
                "submission_id",
                "must be 1..=256 printable characters",
            ));
        }
        let lead = LeadFields::from_fields(&doc.fields)?;
        Ok(Self {
            id: SubmissionId::new(),
            idempotency_key: format!("form:{key}"),
            source: SubmissionSource::Canonical,
            form_id: doc.form_id.map(|s| clean_line(&s)),
            page_url: doc.page_url.map(|s| clean_line(&s)),
            submitted_at: doc.submitted_at,
            received_at,
            lead,
            raw,
        })
    }

    /// Builds a submission from a contact read from the CRM (for a CRM contact event): the
    /// lead fields are the contact's properties plus its e-mail, names, job title, phone and
    /// time zone. `submitted_at` is when the event happened (`received_at` when unknown);
    /// `raw` is the event exactly as received.
    ///
    /// Errors are [`Error::InvalidInput`] (an empty key, or fields that do not make a lead).
    pub fn from_crm_contact(
        contact: &Contact,
        source: SubmissionSource,
        idempotency_key: &str,
        occurred_at: Option<DateTime<Utc>>,
        received_at: DateTime<Utc>,
        raw: String,
    ) -> Result<Self> {
        let key = idempotency_key.trim();
        if key.is_empty() || key.len() > 512 || key.chars().any(char::is_control) {
            return Err(Error::invalid(
                "idempotency_key",
                "must be 1..=512 printable characters",
            ));
        }
        let mut fields: BTreeMap<String, String> = contact.properties.clone();
        fields.insert("email".into(), contact.email.to_string());
        let known = [
            ("firstname", &contact.first_name),
            ("lastname", &contact.last_name),
            ("jobtitle", &contact.job_title),
            ("phone", &contact.phone),
            ("timezone", &contact.time_zone),
        ];
        for (k, v) in known {
            if let Some(v) = v {
                fields.insert(k.into(), v.clone());
            }
        }
        Ok(Self {
            id: SubmissionId::new(),
            idempotency_key: key.to_owned(),
            source,
            form_id: None,
            page_url: None,
            submitted_at: occurred_at.unwrap_or(received_at),
            received_at,
            lead: LeadFields::from_fields(&fields)?,
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn from_crm_contact_takes_the_contacts_fields() {
        let contact = Contact {
            crm_id: crate::model::CrmId::new("123"),
            email: EmailAddress::parse("ann@acme.io").unwrap(),
            first_name: Some("Ann".into()),
            last_name: None,
            job_title: Some("CTO".into()),
            phone: None,
            company_id: None,
            time_zone: Some("Europe/Berlin".into()),
            properties: BTreeMap::from([("company".to_owned(), "Acme".to_owned())]),
        };
        let s = FormSubmission::from_crm_contact(
            &contact,
            SubmissionSource::HubspotEvent,
            "hubspot-event:1:2",
            None,
            now(),
            "{}".into(),
        )
        .unwrap();
        assert_eq!(s.idempotency_key, "hubspot-event:1:2");
        assert_eq!(s.lead.email.to_string(), "ann@acme.io");
        assert_eq!(s.lead.first_name.as_deref(), Some("Ann"));
        assert_eq!(s.lead.time_zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(s.lead.company.as_deref(), Some("Acme"));
        assert_eq!(s.submitted_at, now());
        assert_eq!(
            FormSubmission::from_crm_contact(
                &contact,
                SubmissionSource::HubspotEvent,
                " ",
                None,
                now(),
                String::new()
            )
            .unwrap_err()
            .kind(),
            "invalid_input"
        );
    }

    #[test]
    fn parses_canonical() {
        let raw = r#"{"submission_id":"abc-1","form_id":"demo","submitted_at":"2026-11-25T09:00:00Z",
            "page_url":"https://x.io/demo","fields":{"email":"Ann@Acme.io","firstname":"Ann\r\nBcc: x",
            "message":"Hi","utm_source":"ads"}}"#;
        let s = FormSubmission::from_canonical_json(raw, now()).unwrap();
        assert_eq!(s.idempotency_key, "form:abc-1");
        assert_eq!(s.lead.email.to_string(), "Ann@acme.io");
        assert_eq!(s.lead.first_name.as_deref(), Some("Ann Bcc: x"));
        assert_eq!(
            s.lead.extra.get("utm_source").map(String::as_str),
            Some("ads")
        );
        assert_eq!(s.raw, raw);
    }

    #[test]
    fn typed_errors() {
        let e = FormSubmission::from_canonical_json("{", now()).unwrap_err();
        assert_eq!(e.kind(), "invalid_input");
        let raw = r#"{"submission_id":"1","submitted_at":"2026-11-25T09:00:00Z","fields":{"email":"not-an-email"}}"#;
        assert!(
            matches!(FormSubmission::from_canonical_json(raw, now()), Err(Error::InvalidInput { field, .. }) if field == "fields.email")
        );
        let raw = r#"{"submission_id":"","submitted_at":"2026-11-25T09:00:00Z","fields":{"email":"a@b.co"}}"#;
        assert!(FormSubmission::from_canonical_json(raw, now()).is_err());
    }
}
