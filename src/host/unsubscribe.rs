//! RFC 8058 one-click unsubscribe on our own host.
//!
//! - `POST /unsubscribe/{token}` with the body `List-Unsubscribe=One-Click` (form-urlencoded or
//!   multipart): the token's address is unsubscribed through
//!   [`Outcomes::record_unsubscribe_receipt`], the same code a detected unsubscribe takes
//!   (`email_unsubscribed` recorded, address suppressed, its open drafts stopped). `200` with a
//!   short text; repeating it changes nothing more. No auth, no cookies, no CSRF token: mail
//!   providers send this POST on the recipient's behalf.
//! - `GET /unsubscribe/{token}`: a small confirmation page whose button POSTs the one-click
//!   body. A GET alone changes nothing (link scanners follow links).
//!
//! A token that does not parse, names no stored draft, or whose MAC does not match the draft's
//! address under the server secret is a bare `404`, whichever part failed. Both routes count
//! against the per-client rate limit of the operator API.

use super::error::ApiError;
use super::extract::RawBody;
use super::ratelimit;
use super::{AppState, HostConfig};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use salesagent_core::model::Draft;
use salesagent_core::outcomes::{Outcomes, UnsubscribeReceipt};
use salesagent_core::ports::DynStore;
use salesagent_core::sending::MimeOptions;
use salesagent_core::sending::unsubscribe::{
    OneClick, UnsubscribeSecret, UnsubscribeToken, is_one_click_body, load_or_create_secret,
};
use salesagent_core::{Error, Result};

/// Largest accepted one-click POST body: 16 KiB.
pub const MAX_UNSUBSCRIBE_BODY_BYTES: usize = 16 * 1024;

/// The secret unsubscribe tokens are keyed with: [`HostConfig::unsubscribe_secret`] when set,
/// else the one kept in `store`'s settings (generated on first use, so restarts keep old links
/// valid). Never logged.
///
/// # Errors
/// `InvalidInput` for a configured secret shorter than 16 bytes; store errors.
pub async fn unsubscribe_secret(
    config: &HostConfig,
    store: &DynStore,
) -> Result<UnsubscribeSecret> {
    load_or_create_secret(store.as_ref(), config.unsubscribe_secret.as_ref()).await
}

/// The one-click links this host serves, for the sender's [`MimeOptions`]: `None` without a
/// [`HostConfig::public_url`], or (with a warning) when it is not `https://` (RFC 8058 needs an
/// HTTPS URI); mail then carries only the `mailto:` unsubscribe.
///
/// # Errors
/// As [`unsubscribe_secret`].
pub async fn one_click_links(config: &HostConfig, store: &DynStore) -> Result<Option<OneClick>> {
    let Some(public) = config.public_url.as_deref() else {
        return Ok(None);
    };
    let secret = unsubscribe_secret(config, store).await?;
    match OneClick::new(public, secret) {
        Ok(links) => Ok(Some(links)),
        Err(e) => {
            tracing::warn!(error = %e, "no one-click unsubscribe links; mail carries mailto: only");
            Ok(None)
        }
    }
}

/// Sets `mime`'s one-click unsubscribe links from the host configuration (see
/// [`one_click_links`]), so every message the sender renders points at this host's
/// `/unsubscribe/{token}`.
///
/// # Errors
/// As [`unsubscribe_secret`].
pub async fn configure_mime(
    mime: &mut MimeOptions,
    config: &HostConfig,
    store: &DynStore,
) -> Result<()> {
    mime.unsubscribe.one_click = one_click_links(config, store).await?;
    Ok(())
}

pub(super) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/unsubscribe/{token}",
            get(confirmation_page).post(one_click),
        )
        .layer(DefaultBodyLimit::max(MAX_UNSUBSCRIBE_BODY_BYTES))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit,
        ))
}

/// What the unsubscribe routes share: the secret, loaded on first use.
#[derive(Debug, Default)]
pub(super) struct UnsubscribeState {
    secret: tokio::sync::OnceCell<UnsubscribeSecret>,
}

/// The draft a token names, when the token is genuine for that draft's contact.
async fn verified_draft(state: &AppState, token: &str) -> Result<Option<Draft>> {
    let Ok(token) = UnsubscribeToken::parse(token) else {
        return Ok(None);
    };
    let draft = match state.store().get_draft(token.draft_id()).await {
        Ok(d) => d,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let secret = state
        .unsubscribe
        .secret
        .get_or_try_init(|| unsubscribe_secret(state.config(), state.store()))
        .await?;
    Ok(token
        .verify(secret, &draft.contact_email)
        .is_ok()
        .then_some(draft))
}

/// Headers every answer carries: not cached, not indexed, no referrer (the URL is a
/// capability).
fn private(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response {
    private(
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "Not found.\n")
}

fn failed(e: Error) -> Response {
    tracing::warn!(kind = e.kind(), error = %e, "unsubscribe failed");
    let status = ApiError::from(e).status;
    text(status, "Something went wrong; please try again later.\n")
}

/// `POST /unsubscribe/{token}`: the RFC 8058 one-click unsubscribe.
async fn one_click(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: std::result::Result<RawBody<MAX_UNSUBSCRIBE_BODY_BYTES>, ApiError>,
) -> Response {
    let draft = match verified_draft(&state, &token).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            metrics::counter!("salesagent_unsubscribe_total", "result" => "not_found").increment(1);
            return not_found();
        }
        Err(e) => return failed(e),
    };
    let body = match body {
        Ok(RawBody(b)) => b,
        Err(e) => return e.into_response(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_one_click_body(content_type, &body) {
        return text(
            StatusCode::BAD_REQUEST,
            "Expected the one-click body List-Unsubscribe=One-Click.\n",
        );
    }
    let receipt = UnsubscribeReceipt {
        email: draft.contact_email.clone(),
        receipt_id: format!("draft:{}", draft.id),
        draft_id: Some(draft.id),
        received_at: state.now(),
    };
    let outcomes = Outcomes::with_config(
        state.store().clone(),
        state.clock.clone(),
        state.outcome_config().get(),
    );
    match outcomes.record_unsubscribe_receipt(&receipt).await {
        Ok(rec) => {
            let result = if rec.new { "unsubscribed" } else { "repeated" };
            metrics::counter!("salesagent_unsubscribe_total", "result" => result).increment(1);
            tracing::info!(
                draft = %draft.id,
                new = rec.new,
                drafts_stopped = rec.drafts_stopped,
                "one-click unsubscribe"
            );
            text(
                StatusCode::OK,
                "You are unsubscribed. You will get no more mail from us.\n",
            )
        }
        Err(e) => failed(e),
    }
}

/// `GET /unsubscribe/{token}`: a confirmation page; changes nothing.
async fn confirmation_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match verified_draft(&state, &token).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(),
        Err(e) => return failed(e),
    }
    // The token is 43 base64url characters here (it parsed), so it is safe in an attribute; the
    // relative action keeps working under any prefix the router is nested in.
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>Unsubscribe</title></head>\n<body style=\"font-family: sans-serif; max-width: 32em; margin: 3em auto\">\n\
         <h1>Unsubscribe</h1>\n<p>Stop all further mail from us to this address?</p>\n\
         <form method=\"post\" action=\"{token}\" enctype=\"application/x-www-form-urlencoded\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form>\n</body></html>\n"
    );
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    private(resp)
}
