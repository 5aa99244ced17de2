//! The operator web page: server-rendered HTML, no assets from the internet.
//!
//! Login takes the operator token and starts a server-side session (cookie `HttpOnly;
//! SameSite=Strict`). Every state-changing form carries the session's CSRF token; the login form
//! carries a double-submit token. Responses forbid framing by CSP and allow only the host's own
//! script (`/operator/assets/operator.js`), which adds keyboard review, the chat and
//! push-to-talk on top of the forms: everything works without it. Form routes answer JSON to a
//! request that accepts `application/json` (the script's `fetch`), a redirect otherwise.
//!
//! Pages: the queue (`/operator`), a draft (`/operator/drafts/{id}`), the charts
//! (`/operator/charts`) and a contact's timeline (`/operator/contacts/{email}`).

mod charts;
mod diff;

use super::error::{ApiError, ApiResult};
use super::extract::{
    self, ClientAddress, CsrfForm, FormResult, LOGIN_COOKIE, RawBody, SESSION_COOKIE, Session,
    draft_id,
};
use super::{AppState, CommandReply, MAX_AUDIO_BYTES};
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use salesagent_core::model::{
    Draft, DraftAction, DraftEvent, DraftFlag, DraftId, DraftStatus, DraftWriter, EmailAddress,
    ScoreFactor, clean_line,
};
use salesagent_core::ports::{DraftFilter, OutcomeFilter, SettingsExt as _};
use salesagent_core::sequences::{Sequence, stop_by_operator};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Actor recorded for web-page changes: the logged-in operator's (the route has already
/// checked the session; `operator:web` only if it ended in between).
fn web_actor(state: &AppState, headers: &HeaderMap) -> String {
    session_of(state, headers).map_or_else(|| "operator:web".to_owned(), |s| s.operator.actor())
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/operator", get(queue_page))
        .route("/operator/login", get(login_page).post(login))
        .route("/operator/logout", post(logout))
        .route("/operator/kill-switch", post(kill_switch))
        .route("/operator/assistant", post(assistant))
        .route("/operator/drafts/{id}", get(draft_page))
        .route("/operator/drafts/{id}/approve", post(approve))
        .route("/operator/drafts/{id}/reject", post(reject))
        .route("/operator/drafts/{id}/edit", post(edit))
        .route("/operator/charts", get(charts_page))
        .route("/operator/contacts/{email}", get(timeline_page))
        .route(
            "/operator/contacts/{email}/stop-sequence",
            post(stop_sequence),
        )
        .route("/operator/assets/operator.js", get(script))
        .route(
            "/operator/assistant/audio",
            post(assistant_audio).layer(DefaultBodyLimit::max(MAX_AUDIO_BYTES)),
        )
}

/// The page script (progressive enhancement: keyboard review, chat, push-to-talk).
const SCRIPT: &str = include_str!("web/operator.js");

async fn script() -> Response {
    let mut resp = (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SCRIPT,
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    resp
}

/// Whether the request is the page script's `fetch` (answer JSON, not a redirect).
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

// Escapes text for HTML element content and attribute values (the one core helper).
use salesagent_core::encoding::escape_html as esc;

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}\
header{background:#1d2330;color:#fff;padding:.6em 1.2em;display:flex;gap:1em;align-items:center}\
header a{color:#fff}main{padding:1em 1.2em;max-width:90em}\
table{border-collapse:collapse;width:100%;background:#fff}td,th{border-bottom:1px solid #dde;padding:.4em .5em;text-align:left;vertical-align:top}\
.flag{display:inline-block;background:#fde8c8;border-radius:3px;padding:0 .35em;margin:0 .2em .2em 0;font-size:.85em}\
.off{background:#d8f0dc}.on{background:#f8d0d0}\
textarea{width:100%;min-height:16em;font:inherit}input[type=text]{width:100%}\
form.inline{display:inline}button{font:inherit;padding:.3em .9em;cursor:pointer}\
pre{background:#fff;padding:.6em;overflow:auto;white-space:pre-wrap}.err{color:#a00}section{margin:1.2em 0}\
.badge{display:inline-block;border-radius:3px;padding:0 .4em;margin:0 .3em .2em 0;font-size:.85em;background:#fde8c8}\
.badge.template{background:#e4dcf7}.badge.voice{background:#fbe3e3}.badge.degraded{background:#fde8c8}\
.explain{color:#556;font-size:.85em}.num{text-align:right;font-variant-numeric:tabular-nums}\
tr.item.current{outline:2px solid #4a78c2;background:#eef3fc}tr.item.done{opacity:.55}tr.item.skipped td:first-child{border-left:3px solid #d9822b}\
details.review{margin-top:.4em;min-width:28em}form.js-act[data-kind=reject]{display:inline}form.js-act[data-kind=reject] input{width:14em}\
.diff::before{content:'Changes from the draft as written';display:block;font:bold .8em system-ui,sans-serif;color:#556}#changes .diff::before{content:none}pre.body:has(+ .diff:not(:empty)){display:none}details.review form{margin:.3em 0}.msg{color:#245;font-size:.9em}\
.diff{white-space:pre-wrap;background:#fff;padding:.4em;border:1px solid #dde}.diff:empty{display:none}#review.done form,#review.done details{display:none}details.review textarea{min-height:8em}del{background:#f8d0d0}ins{background:#d8f0dc;text-decoration:none}\
#chat-log{background:#fff;border:1px solid #dde;max-height:24em;overflow:auto;padding:.4em .6em}\
.turn{margin:.3em 0}.turn p,.turn pre{margin:.1em 0}.turn.you p{background:#eef3fc;padding:.3em .5em;border-radius:4px}\
#chat-text{min-height:4.5em}#ptt.on{background:#d9822b;color:#fff}kbd{border:1px solid #99a;border-radius:3px;padding:0 .3em;background:#fff}\
svg.chart{background:#fff;max-width:100%;height:auto;display:block;margin:.4em 0}";

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{} · salesagent</title>\
<style>{STYLE}</style><script src=\"/operator/assets/operator.js\" defer></script></head><body>{body}</body></html>",
        esc(title)
    );
    let mut resp = Html(html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; \
media-src blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn with_cookie(mut resp: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn nav(session: &Session) -> String {
    format!(
        "<header><strong>salesagent</strong><a href=\"/operator\">Queue</a><a href=\"/operator/charts\">Charts</a><span style=\"flex:1\"></span>\
<form class=\"inline\" method=\"post\" action=\"/operator/logout\">{}<button>Log out</button></form></header>",
        csrf_field(session)
    )
}

fn csrf_field(session: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&session.csrf)
    )
}

/// The session, if logged in; pages redirect to the login page otherwise.
fn session_of(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    state.sessions.get(headers, state.now())
}

fn version_of(fields: &HashMap<String, String>) -> ApiResult<Option<u32>> {
    fields
        .get("version")
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| ApiError::bad_request("version must be a number"))
        })
        .transpose()
}

fn back_to(id: &str) -> Response {
    Redirect::to(&format!("/operator/drafts/{id}")).into_response()
}

// ---- login ----

async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.sessions.get(&headers, state.now()).is_some() {
        return Redirect::to("/operator").into_response();
    }
    login_form(&state, None)
}

fn login_form(state: &AppState, error: Option<&str>) -> Response {
    let token = extract::random_token();
    let err = error.map_or_else(String::new, |e| format!("<p class=\"err\">{}</p>", esc(e)));
    let body = format!(
        "<header><strong>salesagent</strong></header><main><h1>Operator login</h1>{err}\
<form method=\"post\" action=\"/operator/login\"><input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
<p><label>Operator token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"current-password\" required></label></p>\
<p><button id=\"login\">Log in</button></p></form></main>"
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let cookie = extract::set_cookie(LOGIN_COOKIE, &token, 600, state.config().secure_cookies());
    let mut resp = with_cookie(page("Login", &body), &cookie);
    *resp.status_mut() = status;
    resp
}

async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    form: FormResult,
) -> Response {
    let Ok(Form(fields)) = form else {
        return ApiError::bad_request("expected a login form").into_response();
    };
    let expected = extract::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !extract::same_token(expected, fields.get("csrf").map_or("", String::as_str)) {
        return ApiError::forbidden("missing or wrong CSRF token").into_response();
    }
    let presented = fields.get("token").map_or("", String::as_str);
    let operator = match extract::authenticate(&state, &client, presented).await {
        Ok(extract::Attempt::Operator(op)) => op,
        Ok(extract::Attempt::Wrong) => return login_form(&state, Some("Wrong token.")),
        Ok(extract::Attempt::Throttled(wait)) => {
            return ApiError::rate_limited(wait).into_response();
        }
        Err(e) => return e.into_response(),
    };
    let id = state
        .sessions
        .start(state.now(), state.config().session_ttl, operator);
    let secure = state.config().secure_cookies();
    let max_age = i64::try_from(state.config().session_ttl.as_secs()).unwrap_or(i64::MAX);
    let resp = Redirect::to("/operator").into_response();
    let resp = with_cookie(
        resp,
        &extract::set_cookie(SESSION_COOKIE, &id, max_age, secure),
    );
    with_cookie(resp, &extract::set_cookie(LOGIN_COOKIE, "", 0, secure))
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _: CsrfForm,
) -> ApiResult<Response> {
    state.sessions.end(&headers);
    let secure = state.config().secure_cookies();
    Ok(with_cookie(
        Redirect::to("/operator/login").into_response(),
        &extract::set_cookie(SESSION_COOKIE, "", 0, secure),
    ))
}

// ---- pages ----

/// A flag as a badge with its explanation.
fn flag_badge(f: &DraftFlag) -> String {
    let (class, label, explain) = match f {
        DraftFlag::TemplateWritten => (
            "template",
            "template".to_owned(),
            "the deterministic template writer wrote this, not the language model".to_owned(),
        ),
        DraftFlag::LowVoiceSimilarity { score_milli } => (
            "voice",
            format!(
                "low voice similarity {:.2}",
                f64::from(*score_milli) / 1000.0
            ),
            "reads less like the sender than their usual mail: check the tone".to_owned(),
        ),
        DraftFlag::Degraded { reason } => (
            "degraded",
            "degraded".to_owned(),
            format!("a step ran without its data: {reason}"),
        ),
    };
    format!(
        "<span class=\"badge {class}\" title=\"{e}\">{l}</span><span class=\"explain\">{e}</span> ",
        l = esc(&label),
        e = esc(&explain)
    )
}

fn flags_html(d: &Draft) -> String {
    d.flags.iter().map(flag_badge).collect()
}

/// Short badges only (for the queue's rows).
fn flag_badges_short(d: &Draft) -> String {
    let mut out = String::new();
    for f in &d.flags {
        let html = flag_badge(f);
        // The badge without its inline explanation (kept as the tooltip).
        let end = html
            .find("</span>")
            .map_or(html.len(), |i| i + "</span>".len());
        out.push_str(&html[..end]);
    }
    out
}

/// One line of reasons for the queue: the ICP score and its top factors.
fn reasons(d: &Draft) -> String {
    d.icp.as_ref().map_or_else(
        || "no ICP score".to_owned(),
        |icp| {
            let top: Vec<String> = icp
                .factors
                .iter()
                .filter(|f| f.points.abs() > f64::EPSILON)
                .take(3)
                .map(|f| format!("{} {:+}", f.name.replace('_', " "), f.points))
                .collect();
            format!("ICP {} (tier {}): {}", icp.score, icp.tier, top.join(", "))
        },
    )
}

/// Score factors as a table: factor, points, evidence.
fn factor_table(id: &str, factors: &[ScoreFactor]) -> String {
    let mut out = format!(
        "<table id=\"{id}\" class=\"reasons\"><tr><th>Factor</th><th class=\"num\">Points</th><th>Evidence</th></tr>"
    );
    for f in factors {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{:+.1}</td><td>{}</td></tr>",
            esc(&f.name.replace('_', " ")),
            f.points,
            esc(&f.reason)
        );
    }
    if factors.is_empty() {
        out.push_str("<tr><td colspan=\"3\">No factors recorded.</td></tr>");
    }
    out.push_str("</table>");
    out
}

/// "written by …": the model by name, or the template writer with why.
fn writer_line(d: &Draft) -> String {
    match &d.writer {
        DraftWriter::Llm { model } => match d.drafting.as_ref().and_then(|r| r.format.as_deref()) {
            Some("prose") => format!(
                "written by {model} (body sentences; subject, greeting, sign-off and slots by the code)"
            ),
            Some(format) => format!("written by {model} ({format})"),
            None => format!("written by {model}"),
        },
        DraftWriter::Template { reason } => {
            match d.drafting.as_ref().and_then(|r| r.template_reason) {
                Some(why) => format!(
                    "written by the template writer ({}: {reason})",
                    why.describe()
                ),
                None => format!("written by the template writer ({reason})"),
            }
        }
        DraftWriter::Human => match d.drafting.as_ref() {
            // An operator's edit of a written draft: say who wrote it first.
            Some(r) if r.template_reason.is_some() => {
                "written by the template writer, edited by an operator".to_owned()
            }
            Some(r) if r.model.is_some() => format!(
                "written by {}, edited by an operator",
                r.model.as_deref().unwrap_or_default()
            ),
            _ => "written by an operator".to_owned(),
        },
    }
}

/// The text as first written (the creation event's snapshot), if recorded.
fn original(events: &[DraftEvent]) -> Option<(&str, &str)> {
    events
        .iter()
        .find(|e| e.before.is_none())
        .map(|e| (e.after.subject.as_str(), e.after.body.as_str()))
}

/// The operator's changes against the draft as first written, or `None` when unchanged.
fn changes_html(events: &[DraftEvent], d: &Draft) -> Option<String> {
    let (subject, body) = original(events)?;
    if subject == d.subject && body == d.body {
        return None;
    }
    let mut out = String::new();
    if subject != d.subject {
        let _ = write!(
            out,
            "<p><b>Subject:</b> {}</p>",
            diff::diff_html(subject, &d.subject)
        );
    }
    out.push_str(&diff::diff_html(body, &d.body));
    Some(out)
}

/// A link when `href` is an http(s) URL, else the text.
fn maybe_link(href: &str) -> String {
    let lower = href.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        format!(
            "<a href=\"{h}\" rel=\"noopener noreferrer\" target=\"_blank\">{h}</a>",
            h = esc(href)
        )
    } else {
        esc(href)
    }
}

/// The "Stop follow-ups" button for a contact whose sequence is still running or paused (empty
/// for a finished one); `back` is the draft page to return to.
fn stop_sequence_form(session: &Session, seq: &Sequence, back: Option<DraftId>) -> String {
    if seq.status.is_finished() {
        return String::new();
    }
    format!(
        "<form class=\"inline\" id=\"stop-sequence\" method=\"post\" action=\"/operator/contacts/{}/stop-sequence\">{}{}\
<button type=\"submit\">Stop follow-ups</button></form>",
        esc(&percent(&seq.contact_email.to_string())),
        csrf_field(session),
        back.map(|id| format!("<input type=\"hidden\" name=\"back\" value=\"{id}\">"))
            .unwrap_or_default(),
    )
}

/// Why a finished sequence ended, for the pages.
fn stop_words(seq: &Sequence) -> String {
    seq.stop_reason
        .as_ref()
        .map(|r| format!(" · stopped: {}", esc(&r.to_string())))
        .unwrap_or_default()
}

fn contact_link(email: &EmailAddress) -> String {
    let e = email.to_string();
    format!(
        "<a href=\"/operator/contacts/{}\">timeline</a>",
        esc(&percent(&e))
    )
}

/// Percent-encodes a path segment (e-mail addresses: `@` and `+` kept readable but safe).
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

async fn queue_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(session) = session_of(&state, &headers) else {
        return Redirect::to("/operator/login").into_response();
    };
    match render_queue(&state, &session, None).await {
        Ok(html) => page("Queue", &html),
        Err(e) => e.into_response(),
    }
}

/// What the assistant box shows after a request: the conversation so far and its id.
struct AssistantTurn<'a> {
    conversation: &'a str,
    history: &'a [(String, String)],
}

/// Review controls for one draft (approve, reject with reason, edit), shared by the queue's
/// rows and the draft page; the forms post to the routes below and work without the script.
fn review_forms(session: &Session, d: &Draft, on_draft_page: bool) -> String {
    let csrf = csrf_field(session);
    let (id, v) = (d.id, d.version);
    format!(
        "<form class=\"inline js-act\" data-kind=\"approve\" method=\"post\" action=\"/operator/drafts/{id}/approve\">{csrf}\
<input type=\"hidden\" name=\"version\" value=\"{v}\"><button class=\"approve\"{approve_id}>Approve <kbd>a</kbd></button></form>\
<form class=\"js-act\" data-kind=\"reject\" method=\"post\" action=\"/operator/drafts/{id}/reject\">{csrf}<input type=\"hidden\" name=\"version\" value=\"{v}\">\
<label>Reject because <input type=\"text\" name=\"reason\" required></label> <button class=\"reject\"{reject_id}>Reject <kbd>r</kbd></button></form>\
<details class=\"edit\"><summary>Edit <kbd>e</kbd></summary><form class=\"js-act\" data-kind=\"edit\" method=\"post\" action=\"/operator/drafts/{id}/edit\">{csrf}\
<input type=\"hidden\" name=\"version\" value=\"{v}\">\
<p><label>Subject <input type=\"text\" name=\"subject\" value=\"{s}\"></label></p>\
<p><label>Body<textarea name=\"body\">{b}</textarea></label></p><p><button class=\"save\">Save edit</button> \
<span class=\"explain js-only\" hidden><kbd>Ctrl</kbd>+<kbd>Enter</kbd> saves, <kbd>Esc</kbd> leaves the field</span></p></form></details>",
        approve_id = if on_draft_page { " id=\"approve\"" } else { "" },
        reject_id = if on_draft_page { " id=\"reject\"" } else { "" },
        s = esc(&d.subject),
        b = esc(&d.body),
    )
}

async fn render_queue(
    state: &AppState,
    session: &Session,
    turn: Option<AssistantTurn<'_>>,
) -> ApiResult<String> {
    let drafts = state.pending_drafts().await?;
    let kill = state.store().kill_switch().await?;
    let stats = state.outcome_stats().await?;
    let mut rows = String::new();
    for item in &drafts {
        let d = &item.draft;
        let _ = write!(
            rows,
            "<tr class=\"item\" id=\"row-{id}\" data-id=\"{id}\" data-version=\"{v}\"><td class=\"num\">{p:.1}</td>\
<td><a class=\"open\" href=\"/operator/drafts/{id}\">{name}</a><br>{email} · {tl}</td><td>{company}</td>\
<td><strong>{subject}</strong><details class=\"review\"><summary>Review</summary><pre class=\"body\">{body}</pre><div class=\"diff\"></div>{forms}\
<p class=\"msg\" aria-live=\"polite\"></p></details></td>\
<td>{why} {flags}<br><span class=\"explain\">{writer}</span></td><td class=\"state\">{status}</td></tr>",
            id = d.id,
            v = d.version,
            p = item.priority,
            name = esc(d
                .contact_name
                .as_deref()
                .unwrap_or(&d.contact_email.to_string())),
            email = esc(&d.contact_email.to_string()),
            tl = contact_link(&d.contact_email),
            company = esc(d.company_name.as_deref().unwrap_or("")),
            subject = esc(&d.subject),
            body = esc(&d.body),
            forms = review_forms(session, d, false),
            why = esc(&reasons(d)),
            flags = flag_badges_short(d),
            writer = esc(&writer_line(d)),
            status = d.status,
        );
    }
    if drafts.is_empty() {
        rows.push_str("<tr><td colspan=\"6\">Nothing waiting for review.</td></tr>");
    }
    let (label, class, next, verb) = if kill {
        (
            "ON: nothing is sent or auto-approved",
            "on",
            "off",
            "Turn off",
        )
    } else {
        ("off", "off", "on", "Turn on")
    };
    Ok(format!(
        "{}<main><section><h1>Review queue (<span id=\"remaining\">{}</span>)</h1>\
<p class=\"explain js-only\" id=\"keys\" hidden>Keys: <kbd>j</kbd>/<kbd>k</kbd> next/previous · <kbd>a</kbd> approve · \
<kbd>r</kbd> reject with a reason · <kbd>e</kbd> edit · <kbd>s</kbd> skip · <kbd>Esc</kbd> leaves a field</p>\
<table id=\"queue\"><tr><th>Priority</th><th>Contact</th><th>Company</th><th>Subject</th><th>Why</th><th>Status</th></tr>{rows}</table></section>\
{}<section><h2>Kill switch</h2><p class=\"{class}\" id=\"kill-state\">Kill switch is {label}.</p>\
<form method=\"post\" action=\"/operator/kill-switch\">{}<input type=\"hidden\" name=\"on\" value=\"{next}\"><button>{verb}</button></form></section>\
<section><h2>Outcomes</h2><p>{} recorded, total impact {}. <a href=\"/operator/charts\">Charts of what works</a></p></section></main>",
        nav(session),
        drafts.len(),
        assistant_box(session, turn.as_ref(), state.speech.stt.is_some()),
        csrf_field(session),
        stats["total"],
        stats["total_impact"],
    ))
}

/// Most turns the page carries back in its hidden history field.
const MAX_HISTORY_TURNS: usize = 20;
/// Most bytes of history carried back.
const MAX_HISTORY_BYTES: usize = 16 * 1024;

/// The chat: the conversation so far, a multi-line box, and push-to-talk (when the host can
/// hear: shown by the script when the browser can record). The conversation id rides along so "this" keeps meaning the
/// same draft; without the script the history rides in a hidden field.
fn assistant_box(session: &Session, turn: Option<&AssistantTurn<'_>>, can_hear: bool) -> String {
    let mut log = String::new();
    let (conversation, history) = turn.map_or((String::new(), String::new()), |t| {
        (
            t.conversation.to_owned(),
            serde_json::to_string(t.history).unwrap_or_default(),
        )
    });
    let turns = turn.map_or(&[][..], |t| t.history);
    for (n, (asked, reply)) in turns.iter().enumerate() {
        // The latest answer is `#assistant-reply`.
        let last = if n + 1 == turns.len() {
            " id=\"assistant-reply\""
        } else {
            ""
        };
        let _ = write!(
            log,
            "<div class=\"turn you\"><b>You</b><p>{}</p></div><div class=\"turn bot\"><b>Assistant</b><pre class=\"assistant-reply\"{last}>{}</pre></div>",
            esc(asked),
            esc(reply)
        );
    }
    if log.is_empty() {
        log.push_str("<p class=\"explain\">Ask in your own words: “what's next”, “yes, approve it”, “reject that one — too early”.</p>");
    }
    format!(
        "<section id=\"assistant\"><h2>Assistant</h2><div id=\"chat-log\" aria-live=\"polite\">{log}</div>\
<form id=\"chat-form\" method=\"post\" action=\"/operator/assistant\">{}\
<input type=\"hidden\" name=\"conversation\" value=\"{}\"><input type=\"hidden\" name=\"history\" value=\"{}\">\
<p><textarea id=\"chat-text\" name=\"text\" maxlength=\"2000\" rows=\"3\" placeholder=\"what's next / yes, approve it / reject that one — too early\" required></textarea></p>\
<p><button id=\"chat-send\">Send</button> {ptt}\
<span id=\"ptt-state\" class=\"explain\" aria-live=\"polite\"></span> \
<span class=\"explain js-only\" hidden><kbd>Enter</kbd> sends, <kbd>Shift</kbd>+<kbd>Enter</kbd> a new line</span></p></form></section>",
        csrf_field(session),
        esc(&conversation),
        esc(&history),
        // Push-to-talk only where speech to text is configured (the script shows it).
        ptt = if can_hear {
            "<button type=\"button\" id=\"ptt\" hidden>Hold to talk</button> "
        } else {
            ""
        },
    )
}

async fn draft_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = session_of(&state, &headers) else {
        return Redirect::to("/operator/login").into_response();
    };
    match render_draft(&state, &session, &id).await {
        Ok(html) => page("Draft", &html),
        Err(e) => e.into_response(),
    }
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    esc(&serde_json::to_string_pretty(v).unwrap_or_default())
}

/// What an audit action means, for people.
fn action_words(e: &DraftEvent) -> String {
    if e.before.is_none() {
        return "draft written".to_owned();
    }
    match &e.action {
        DraftAction::Approve => "approved".to_owned(),
        DraftAction::Reject { reason } => format!("rejected: {reason}"),
        DraftAction::Edit { .. } => "edited".to_owned(),
        DraftAction::MarkSent { .. } => "sent".to_owned(),
        DraftAction::MarkFailed { .. } => "sending failed".to_owned(),
        DraftAction::BeginSend { .. } => "sending started".to_owned(),
        DraftAction::MarkDrafted { .. } => "saved as a mailbox draft".to_owned(),
        DraftAction::Stop { .. } => "stopped".to_owned(),
        other => other.name().replace('_', " "),
    }
}

async fn render_draft(state: &AppState, session: &Session, id: &str) -> ApiResult<String> {
    let id = draft_id(id)?;
    let d = state.store().get_draft(id).await?;
    let events = state.store().draft_events(id).await?;
    let profile = d
        .drafting
        .as_ref()
        .and_then(|r| r.voice_profile.clone())
        .map(|p| format!(" to profile {p}"))
        .unwrap_or_default();
    let voice = d.voice_similarity.map_or_else(
        || "no voice profile applied".to_owned(),
        |v| format!("voice similarity {v:.2}{profile}"),
    );
    let mut out = format!(
        "{}<main><h1>Draft to {}</h1><p>Status <strong id=\"status\">{}</strong> · version {} · \
<span id=\"writer\">{}</span> · {} · {}</p><p id=\"flags\">{}</p>",
        nav(session),
        esc(&d.contact_email.to_string()),
        d.status,
        d.version,
        esc(&writer_line(&d)),
        esc(&voice),
        contact_link(&d.contact_email),
        flags_html(&d),
    );
    if d.status == DraftStatus::Pending {
        let _ = write!(
            out,
            "<section id=\"review\"><pre class=\"body\"><strong>{}</strong>\n\n{}</pre>{}<div class=\"diff\"></div><p class=\"msg\"></p></section>",
            esc(&d.subject),
            esc(&d.body),
            review_forms(session, &d, true)
        );
    } else if d.status.is_editable() {
        let csrf = csrf_field(session);
        let _ = write!(
            out,
            "<section><form method=\"post\" action=\"/operator/drafts/{id}/edit\">{csrf}\
<input type=\"hidden\" name=\"version\" value=\"{v}\">\
<p><label>Subject <input type=\"text\" name=\"subject\" value=\"{s}\"></label></p>\
<p><label>Body<textarea name=\"body\">{b}</textarea></label></p><p><button>Save edit</button></p></form></section>",
            v = d.version,
            s = esc(&d.subject),
            b = esc(&d.body),
        );
    } else {
        let _ = write!(
            out,
            "<section><p><strong>{}</strong></p><pre>{}</pre></section>",
            esc(&d.subject),
            esc(&d.body)
        );
    }
    if let Some(reason) = &d.status_reason {
        let _ = write!(out, "<p>Reason: {}</p>", esc(reason));
    }
    if let Some(changes) = changes_html(&events, &d) {
        let _ = write!(
            out,
            "<section id=\"changes\"><h2>Changes from the draft as written</h2><div class=\"diff\">{changes}</div></section>"
        );
    }
    // [drafting] the facts the text rests on and what validation repaired.
    if let Some(r) = &d.drafting {
        out.push_str("<section id=\"facts-used\"><h2>Facts used</h2>");
        if r.facts.is_empty() {
            out.push_str(
                "<p>None: the text states no fact from the CRM, mail, Drive or calendar.</p>",
            );
        } else {
            out.push_str("<table><tr><th>Fact</th><th>Source</th><th>What it says</th></tr>");
            for f in &r.facts {
                let link = f.link.as_deref().map(maybe_link).unwrap_or_default();
                let _ = write!(
                    out,
                    "<tr><td><strong>{}</strong></td><td>{}</td><td>{} {link}</td></tr>",
                    esc(&f.id),
                    esc(&f.source),
                    esc(&f.text)
                );
            }
            out.push_str("</table>");
        }
        for repair in &r.repairs {
            let _ = write!(
                out,
                "<p><span class=\"badge degraded\">repaired</span>{}</p>",
                esc(repair)
            );
        }
        out.push_str("</section>");
    }
    // Why this priority: the queue's factors (while pending) and the ICP factors.
    let queue_factors = if d.status == DraftStatus::Pending {
        state
            .pending_drafts()
            .await?
            .into_iter()
            .find(|i| i.draft.id == d.id)
            .map(|i| (i.priority, i.factors))
    } else {
        None
    };
    out.push_str("<section id=\"why\"><h2>Why this priority</h2>");
    match queue_factors {
        Some((p, factors)) => {
            let _ = write!(out, "<p>Priority {p:.1}.</p>");
            out.push_str(&factor_table("priority-reasons", &factors));
        }
        None => {
            let _ = write!(out, "<p>Priority {:.1}.</p>", d.priority);
        }
    }
    match &d.icp {
        Some(icp) => {
            let _ = write!(
                out,
                "<h3>Ideal customer fit: {} (tier {})</h3>",
                icp.score,
                esc(&icp.tier)
            );
            out.push_str(&factor_table("icp-reasons", &icp.factors));
        }
        None => out.push_str("<p>No ICP score.</p>"),
    }
    out.push_str("</section>");
    if let Some(seq) = state.store().get_sequence(&d.contact_email).await? {
        let _ = write!(
            out,
            "<section id=\"sequence\"><h2>Follow-up sequence</h2><p>{} · {} of {} follow-ups sent{}{}{}</p>{}</section>",
            esc(&seq.status.to_string()),
            seq.sent_steps,
            seq.plan.len(),
            seq.next_due
                .map(|t| format!(" · next due {}", t.format("%Y-%m-%d %H:%M")))
                .unwrap_or_default(),
            seq.paused_until
                .map(|t| format!(" · paused until {}", t.format("%Y-%m-%d")))
                .unwrap_or_default(),
            stop_words(&seq),
            stop_sequence_form(session, &seq, Some(d.id)),
        );
    }
    let _ = write!(
        out,
        "<section><h2>Rules and send policy</h2><details><summary>Auto-approval rules</summary><pre>{}</pre></details>\
<details><summary>Send policy</summary><pre>{}</pre></details></section>\
<section><h2>History</h2><table id=\"history\"><tr><th>When</th><th>Who</th><th>What</th><th>Status after</th></tr>",
        d.rule_decision
            .as_ref()
            .map_or_else(|| "not evaluated".to_owned(), pretty),
        d.send_decision
            .as_ref()
            .map_or_else(|| "not evaluated".to_owned(), pretty),
    );
    for e in &events {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            esc(&e.actor),
            esc(&action_words(e)),
            e.after.status,
        );
    }
    out.push_str("</table></section></main>");
    Ok(out)
}

// ---- charts and timeline ----

/// Most drafts and outcomes the charts read (the newest).
const CHART_ROWS: u32 = 50_000;

async fn charts_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(session) = session_of(&state, &headers) else {
        return Redirect::to("/operator/login").into_response();
    };
    let result = async {
        let drafts = state
            .store()
            .list_drafts(&DraftFilter {
                limit: CHART_ROWS,
                ..DraftFilter::default()
            })
            .await?;
        let outcomes = state
            .store()
            .list_outcomes(&OutcomeFilter {
                limit: CHART_ROWS,
                ..OutcomeFilter::default()
            })
            .await?;
        Ok::<_, salesagent_core::Error>(charts::compute(&drafts, &outcomes))
    }
    .await;
    match result {
        Ok(c) => page(
            "Charts",
            &format!("{}<main>{}</main>", nav(&session), charts::render(&c)),
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn timeline_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Response {
    let Some(session) = session_of(&state, &headers) else {
        return Redirect::to("/operator/login").into_response();
    };
    match render_timeline(&state, &session, &email).await {
        Ok(html) => page("Timeline", &html),
        Err(e) => e.into_response(),
    }
}

/// Everything that happened with one contact, oldest first: the form, drafts, decisions with
/// the operator, sends, outcomes and sequence steps.
async fn render_timeline(state: &AppState, session: &Session, email: &str) -> ApiResult<String> {
    let email = EmailAddress::parse(email).map_err(ApiError::from)?;
    let store = state.store();
    let drafts = store
        .list_drafts(&DraftFilter {
            contact: Some(email.clone()),
            ..DraftFilter::default()
        })
        .await?;
    let mut entries: Vec<(DateTime<Utc>, String, String, String)> = Vec::new();
    for d in &drafts {
        if let Some(sid) = d.submission_id
            && let Ok(sub) = store.get_submission(sid).await
        {
            entries.push((
                sub.submitted_at,
                "form".to_owned(),
                "contact".to_owned(),
                format!(
                    "form submitted{}",
                    sub.page_url
                        .as_deref()
                        .map(|u| format!(" on {u}"))
                        .unwrap_or_default()
                ),
            ));
        }
        for e in store.draft_events(d.id).await? {
            let what = format!(
                "<a href=\"/operator/drafts/{}\">{}</a>: {}",
                d.id,
                esc(&d.subject),
                esc(&action_words(&e))
            );
            let kind = match &e.action {
                _ if e.before.is_none() => "draft",
                DraftAction::Approve | DraftAction::Reject { .. } | DraftAction::Edit { .. } => {
                    "decision"
                }
                DraftAction::MarkSent { .. } | DraftAction::BeginSend { .. } => "send",
                _ => "draft",
            };
            entries.push((e.at, kind.to_owned(), e.actor.clone(), what));
        }
    }
    for o in store
        .list_outcomes(&OutcomeFilter {
            contact: Some(email.clone()),
            ..OutcomeFilter::default()
        })
        .await?
    {
        entries.push((
            o.occurred_at,
            "outcome".to_owned(),
            o.sender.map(|s| s.to_string()).unwrap_or_default(),
            esc(&format!(
                "{}{}",
                o.outcome_type.as_str().replace('_', " "),
                o.details.map(|d| format!(": {d}")).unwrap_or_default()
            )),
        ));
    }
    let mut seq_line = String::new();
    if let Some(seq) = store.get_sequence(&email).await? {
        for m in &seq.messages {
            entries.push((
                m.sent_at,
                "sequence".to_owned(),
                seq.sender.to_string(),
                format!(
                    "step {} sent: <a href=\"/operator/drafts/{}\">{}</a>",
                    m.step,
                    m.draft_id,
                    esc(&m.subject)
                ),
            ));
        }
        seq_line = format!(
            "<p id=\"sequence\">Sequence {} · {} of {} follow-ups sent{}{}</p>{}",
            esc(&seq.status.to_string()),
            seq.sent_steps,
            seq.plan.len(),
            seq.next_due
                .map(|t| format!(" · next due {}", t.format("%Y-%m-%d %H:%M")))
                .unwrap_or_default(),
            stop_words(&seq),
            stop_sequence_form(session, &seq, None),
        );
    }
    entries.sort_by_key(|a| a.0);
    let mut out = format!(
        "{}<main><h1>Timeline of {}</h1>{seq_line}<table id=\"timeline\"><tr><th>When</th><th>Kind</th><th>Who</th><th>What</th></tr>",
        nav(session),
        esc(&email.to_string())
    );
    for (at, kind, who, what) in &entries {
        let _ = write!(
            out,
            "<tr class=\"{kind}\"><td>{}</td><td>{kind}</td><td>{}</td><td>{what}</td></tr>",
            at.format("%Y-%m-%d %H:%M"),
            esc(who)
        );
    }
    if entries.is_empty() {
        out.push_str("<tr><td colspan=\"4\">Nothing recorded for this contact.</td></tr>");
    }
    out.push_str("</table></main>");
    Ok(out)
}

// ---- actions ----

/// What the form routes answer the page script: the draft's state after the action and, for
/// an edit, the diff against the draft as first written.
async fn action_reply(
    state: &AppState,
    headers: &HeaderMap,
    d: &Draft,
    id: &str,
) -> ApiResult<Response> {
    if !wants_json(headers) {
        return Ok(back_to(id));
    }
    let events = state.store().draft_events(d.id).await?;
    let diff_html = changes_html(&events, d).unwrap_or_default();
    Ok(Json(serde_json::json!({
        "id": d.id,
        "status": d.status,
        "version": d.version,
        "subject": d.subject,
        "body": d.body,
        "diff_html": diff_html,
    }))
    .into_response())
}

async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    CsrfForm { fields, .. }: CsrfForm,
) -> ApiResult<Response> {
    let did = draft_id(&id)?;
    let d = state
        .act(
            did,
            version_of(&fields)?,
            &web_actor(&state, &headers),
            DraftAction::Approve,
        )
        .await?;
    action_reply(&state, &headers, &d, &id).await
}

async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    CsrfForm { fields, .. }: CsrfForm,
) -> ApiResult<Response> {
    let did = draft_id(&id)?;
    let reason = clean_line(fields.get("reason").map_or("", String::as_str));
    if reason.is_empty() {
        return Err(ApiError::bad_request("reason is required"));
    }
    let d = state
        .act(
            did,
            version_of(&fields)?,
            &web_actor(&state, &headers),
            DraftAction::Reject { reason },
        )
        .await?;
    action_reply(&state, &headers, &d, &id).await
}

async fn edit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    CsrfForm { fields, .. }: CsrfForm,
) -> ApiResult<Response> {
    let did = draft_id(&id)?;
    // Browsers send CRLF line ends in textareas; keep the body's own line ends as LF.
    let body = fields.get("body").map(|b| b.replace("\r\n", "\n"));
    let action = DraftAction::Edit {
        subject: fields.get("subject").cloned(),
        body,
    };
    let d = state
        .act(
            did,
            version_of(&fields)?,
            &web_actor(&state, &headers),
            action,
        )
        .await?;
    action_reply(&state, &headers, &d, &id).await
}

/// `POST /operator/contacts/{email}/stop-sequence` (CSRF form): stops the contact's follow-up
/// sequence by hand (reason `manual`, naming the operator), discards its unsent follow-up and
/// records `sequence.stop` in the audit log. Answers the sequence's state as JSON to the page
/// script, else redirects back to the draft page named by `back` or to the contact's timeline;
/// `404` when the contact has no sequence.
async fn stop_sequence(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    CsrfForm { fields, .. }: CsrfForm,
) -> ApiResult<Response> {
    let contact = EmailAddress::parse(raw.trim())
        .map_err(|_| ApiError::bad_request(format!("{raw:?} is not an e-mail address")))?;
    let actor = web_actor(&state, &headers);
    let seq = stop_by_operator(
        state.store().as_ref(),
        &contact,
        &actor,
        Some("web"),
        state.now(),
    )
    .await?
    .ok_or_else(|| salesagent_core::Error::not_found(format!("sequence of {contact}")))?;
    if wants_json(&headers) {
        return Ok(Json(serde_json::json!({
            "contact_email": seq.contact_email,
            "status": seq.status,
            "stop_reason": seq.stop_reason,
        }))
        .into_response());
    }
    let back = fields
        .get("back")
        .and_then(|b| draft_id(b).ok())
        .map_or_else(
            || format!("/operator/contacts/{}", percent(&contact.to_string())),
            |id| format!("/operator/drafts/{id}"),
        );
    Ok(Redirect::to(&back).into_response())
}

/// The chat history carried in the form's hidden field (bounded; anything unreadable is
/// dropped: it is only what the page shows).
fn history_of(fields: &HashMap<String, String>) -> Vec<(String, String)> {
    fields
        .get("history")
        .filter(|h| h.len() <= MAX_HISTORY_BYTES)
        .and_then(|h| serde_json::from_str::<Vec<(String, String)>>(h).ok())
        .unwrap_or_default()
}

async fn assistant(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm { session, fields }: CsrfForm,
) -> ApiResult<Response> {
    let text = fields.get("text").map_or("", String::as_str);
    let conversation = fields
        .get("conversation")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    let (id, reply) = state
        .assistant_typed(conversation, &session.operator.name, text)
        .await?;
    if wants_json(&headers) {
        return Ok(Json(serde_json::json!({
            "conversation": id,
            "reply": reply.text,
            "draft": reply.draft,
            "awaiting_confirmation": reply.awaiting_confirmation,
        }))
        .into_response());
    }
    let mut history = history_of(&fields);
    history.push((text.to_owned(), reply.text.clone()));
    while history.len() > MAX_HISTORY_TURNS
        || serde_json::to_string(&history).map_or(0, |h| h.len()) > MAX_HISTORY_BYTES
    {
        if history.is_empty() {
            break;
        }
        history.remove(0);
    }
    let html = render_queue(
        &state,
        &session,
        Some(AssistantTurn {
            conversation: &id,
            history: &history,
        }),
    )
    .await?;
    Ok(page("Queue", &html))
}

/// `POST /operator/assistant/audio?conversation=`: push-to-talk from the page. The session
/// cookie authenticates and the `X-CSRF-Token` header carries the session's CSRF token; the
/// body is the recording (`Content-Type` `audio/webm`, `audio/ogg`, `audio/wav`, `audio/mpeg`).
/// Answers the same JSON as `POST /api/assistant/audio`, spoken when text to speech is set up.
async fn assistant_audio(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Result<RawBody<MAX_AUDIO_BYTES>, ApiError>,
) -> ApiResult<Json<CommandReply>> {
    let session =
        session_of(&state, &headers).ok_or_else(|| ApiError::unauthorized("log in first"))?;
    let presented = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !extract::same_token(&session.csrf, presented) {
        return Err(ApiError::forbidden("missing or wrong CSRF token"));
    }
    let conversation = q
        .get("conversation")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    state
        .assistant_spoken(conversation, &session.operator.name, &headers, body)
        .await
        .map(Json)
}

async fn kill_switch(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm { fields, .. }: CsrfForm,
) -> ApiResult<Response> {
    let on = match fields.get("on").map(String::as_str) {
        Some("on") => true,
        Some("off") => false,
        _ => return Err(ApiError::bad_request("on must be \"on\" or \"off\"")),
    };
    state.switch_kill(on, &web_actor(&state, &headers)).await?;
    Ok(Redirect::to("/operator").into_response())
}

#[cfg(test)]
mod tests {
    use super::writer_line;
    use salesagent_core::model::{Draft, DraftWriter, DraftingReport, EmailAddress};

    fn draft(writer: DraftWriter, format: Option<&str>) -> Draft {
        Draft {
            drafting: Some(DraftingReport {
                model: Some("smollm2".into()),
                format: format.map(str::to_owned),
                ..DraftingReport::default()
            }),
            ..Draft::new(
                EmailAddress::parse("ann@example.com").expect("address"),
                EmailAddress::parse("sam@ours.example").expect("address"),
                "Hello".to_owned(),
                "Hi Ann".to_owned(),
                writer,
                chrono::Utc::now(),
            )
        }
    }

    #[test]
    fn the_writer_line_says_in_which_format_a_model_wrote() {
        let llm = || DraftWriter::Llm {
            model: "smollm2".into(),
        };
        assert_eq!(
            writer_line(&draft(llm(), Some("prose"))),
            "written by smollm2 (body sentences; subject, greeting, sign-off and slots by the code)"
        );
        assert_eq!(
            writer_line(&draft(llm(), Some("json"))),
            "written by smollm2 (json)"
        );
        assert_eq!(writer_line(&draft(llm(), None)), "written by smollm2");
    }
}
