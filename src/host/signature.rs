//! HubSpot request signatures at the intake: which URI HubSpot signed, and the verification
//! call site.
//!
//! Verification itself belongs to the HubSpot connector
//! ([`salesagent_connectors::hubspot::webhook::verify`]); this module rebuilds the signed URI
//! from the request and maps the headers.

use super::AppState;
use axum::http::{HeaderMap, Method, Uri};
use salesagent_core::{Error, Result};

use salesagent_connectors::hubspot::webhook::{WebhookRequest, verify};

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
/// `uri` is the request's original URI (axum's `OriginalUri`), so its path already includes
/// any prefix the router is nested under; `public_url` is the external origin
/// (`https://leads.example.com`), plus only a path prefix that a reverse proxy strips before
/// the request reaches this process.
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
    let mut full_uri = signed_uri(config.public_url.as_deref(), headers, uri)?;
    if config.public_url.is_none() && config.behind_tls {
        // Behind a TLS-terminating proxy HubSpot called `https://` + `Host`.
        full_uri = full_uri.replacen("http://", "https://", 1);
    }
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
    verify(secret, &req, state.now()).map(|_| ())
}
