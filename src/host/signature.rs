//! HubSpot request signatures at the intake: which URI HubSpot signed, and the verification
//! call site.
//!
//! Verification itself belongs to the HubSpot connector
//! (`salesagent_connectors::hubspot::webhook::verify`). Until that lands on `main`, the
//! [`interim`] module below has the same signature, so switching over is one `use` line.

use super::AppState;
use axum::http::{HeaderMap, Method, Uri};
use chrono::{DateTime, Utc};
use salesagent_core::{Error, Result};
use secrecy::SecretString;

// The one line to switch to the connector's verifier when it lands.
use interim::{SignatureVersion, WebhookRequest, verify};

/// Header carrying the v3 signature.
pub const HEADER_V3: &str = "x-hubspot-signature-v3";
/// Header carrying the v3 timestamp (milliseconds since the epoch).
pub const HEADER_TIMESTAMP: &str = "x-hubspot-request-timestamp";
/// Header carrying a v1/v2 signature.
pub const HEADER_V1V2: &str = "x-hubspot-signature";
/// Header naming the v1/v2 recipe.
pub const HEADER_VERSION: &str = "x-hubspot-signature-version";

/// The full URL HubSpot called: `public_url` + path and query when configured, otherwise
/// `http://` + the `Host` header + path and query.
///
/// # Errors
/// `Unauthenticated` when neither a public URL nor a usable `Host` header is there (the signed
/// URI cannot be rebuilt, so the signature cannot be checked).
pub fn signed_uri(public_url: Option<&str>, headers: &HeaderMap, uri: &Uri) -> Result<String> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    if let Some(base) = public_url {
        return Ok(format!("{}{path}", base.trim_end_matches('/')));
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.chars().any(|c| c.is_control() || c == '/'))
        .or_else(|| uri.authority().map(axum::http::uri::Authority::as_str))
        .ok_or_else(|| Error::unauthenticated("no Host header to rebuild the signed URI"))?;
    Ok(format!("http://{host}{path}"))
}

/// Checks a webhook request's signature against the configured HubSpot client secret.
/// v1/v2 are accepted only when `legacy` is true. With no secret configured every request is
/// refused, unless the host was explicitly started with `allow_unsigned`.
///
/// # Errors
/// `Unauthenticated` for a missing, malformed, wrong or stale signature.
pub fn check(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
    legacy: bool,
) -> Result<()> {
    let config = state.config();
    let Some(secret) = config.hubspot_secret.as_ref() else {
        if config.allow_unsigned {
            return Ok(());
        }
        return Err(Error::unauthenticated(
            "HUBSPOT_CLIENT_SECRET is not configured; refusing unsigned webhooks",
        ));
    };
    let full_uri = signed_uri(config.public_url.as_deref(), headers, uri)?;
    let header = |name: &str| -> Result<Option<&str>> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| Error::unauthenticated(format!("{name} is not ASCII")))
            })
            .transpose()
    };
    let req = WebhookRequest {
        method: method.as_str(),
        uri: &full_uri,
        body,
        signature: header(HEADER_V1V2)?,
        signature_version: header(HEADER_VERSION)?,
        signature_v3: header(HEADER_V3)?,
        timestamp: header(HEADER_TIMESTAMP)?,
    };
    if req.signature_v3.is_none() && !legacy {
        return Err(Error::unauthenticated(format!("missing {HEADER_V3}")));
    }
    verify_with(secret, &req, state.now()).map(|_| ())
}

fn verify_with(
    secret: &SecretString,
    req: &WebhookRequest<'_>,
    now: DateTime<Utc>,
) -> Result<SignatureVersion> {
    verify(secret, req, now)
}

/// Interim verifier with the connector's signature (v3 only, plus v1/v2), replaced by
/// `salesagent_connectors::hubspot::webhook` once that lands.
mod interim {
    use base64::Engine as _;
    use chrono::{DateTime, Utc};
    use hmac::{Hmac, KeyInit, Mac};
    use salesagent_core::{Error, Result};
    use secrecy::{ExposeSecret, SecretString};
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;

    /// Oldest accepted v3 timestamp, in milliseconds before now.
    const MAX_AGE_MS: i64 = 300_000;
    /// Furthest accepted v3 timestamp in the future, in milliseconds.
    const MAX_SKEW_MS: i64 = 60_000;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum SignatureVersion {
        V1,
        V2,
        V3,
    }

    #[derive(Debug, Clone, Copy, Default)]
    pub(super) struct WebhookRequest<'a> {
        pub method: &'a str,
        pub uri: &'a str,
        pub body: &'a [u8],
        pub signature: Option<&'a str>,
        pub signature_version: Option<&'a str>,
        pub signature_v3: Option<&'a str>,
        pub timestamp: Option<&'a str>,
    }

    fn rejected(why: &str) -> Error {
        Error::unauthenticated(format!("hubspot webhook signature rejected: {why}"))
    }

    /// Decodes only the escapes HubSpot's v3 recipe lists.
    fn decode_v3_uri(uri: &str) -> String {
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
            let code = tail.get(..2).map(str::to_ascii_uppercase);
            match code.and_then(|h| TABLE.iter().find(|(c, _)| *c == h)) {
                Some((_, ch)) => {
                    out.push(*ch);
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

    fn sha256_hex(parts: &[&[u8]]) -> String {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().iter().fold(String::new(), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    pub(super) fn verify(
        secret: &SecretString,
        req: &WebhookRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<SignatureVersion> {
        if let Some(sig) = req.signature_v3 {
            let ts = req
                .timestamp
                .ok_or_else(|| rejected("missing X-HubSpot-Request-Timestamp"))?;
            let ms: i64 = ts
                .trim()
                .parse()
                .map_err(|_| rejected("timestamp is not an integer"))?;
            let age = now.timestamp_millis().saturating_sub(ms);
            if age > MAX_AGE_MS {
                return Err(rejected("timestamp older than 5 minutes"));
            }
            if age < -MAX_SKEW_MS {
                return Err(rejected("timestamp in the future"));
            }
            let got = base64::engine::general_purpose::STANDARD
                .decode(sig.trim())
                .map_err(|_| rejected("v3 header is not base64"))?;
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
                .map_err(|_| rejected("unusable secret"))?;
            mac.update(req.method.as_bytes());
            mac.update(decode_v3_uri(req.uri).as_bytes());
            mac.update(req.body);
            mac.update(ts.as_bytes());
            let expected = mac.finalize().into_bytes();
            return if got.len() == expected.len() && bool::from(expected.as_slice().ct_eq(&got)) {
                Ok(SignatureVersion::V3)
            } else {
                Err(rejected("v3 mismatch"))
            };
        }
        let sig = req
            .signature
            .ok_or_else(|| rejected("no signature header"))?;
        let s = secret.expose_secret().as_bytes();
        let (expected, version) = match req.signature_version.map_or("v1", str::trim) {
            "v1" => (sha256_hex(&[s, req.body]), SignatureVersion::V1),
            "v2" => (
                sha256_hex(&[s, req.method.as_bytes(), req.uri.as_bytes(), req.body]),
                SignatureVersion::V2,
            ),
            _ => return Err(rejected("unknown signature version")),
        };
        let got = sig.trim().to_ascii_lowercase();
        if bool::from(expected.as_bytes().ct_eq(got.as_bytes())) {
            Ok(version)
        } else {
            Err(rejected("signature mismatch"))
        }
    }
}
