//! The operator web page: server-rendered HTML, no scripts, no assets from the internet.
//!
//! Login takes the operator token and starts a server-side session (cookie `HttpOnly;
//! SameSite=Strict`). Every state-changing form carries the session's CSRF token; the login form
//! carries a double-submit token. Responses forbid framing and scripts by CSP.

use super::AppState;
use super::auth::{self, LOGIN_COOKIE, SESSION_COOKIE, Session};
use super::error::{ApiError, ApiResult};
use super::operator::{act, draft_id, pending_drafts, stats, switch_kill};
use super::ratelimit::ClientAddress;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use salesagent_core::model::{Draft, DraftAction, DraftFlag, DraftWriter, clean_line};
use salesagent_core::ports::SettingsExt as _;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Actor recorded for web-page changes: the logged-in operator's (the route has already
/// checked the session; `operator:web` only if it ended in between).
fn web_actor(state: &AppState, headers: &HeaderMap) -> String {
    session_of(state, headers).map_or_else(|| "operator:web".to_owned(), |s| s.operator.actor())
}

type FormResult =
    std::result::Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>;

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
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}\
header{background:#1d2330;color:#fff;padding:.6em 1.2em;display:flex;gap:1em;align-items:center}\
header a{color:#fff}main{padding:1em 1.2em;max-width:70em}\
table{border-collapse:collapse;width:100%;background:#fff}td,th{border-bottom:1px solid #dde;padding:.4em .5em;text-align:left;vertical-align:top}\
.flag{display:inline-block;background:#fde8c8;border-radius:3px;padding:0 .35em;margin:0 .2em .2em 0;font-size:.85em}\
.off{background:#d8f0dc}.on{background:#f8d0d0}\
textarea{width:100%;min-height:16em;font:inherit}input[type=text]{width:100%}\
form.inline{display:inline}button{font:inherit;padding:.3em .9em;cursor:pointer}\
pre{background:#fff;padding:.6em;overflow:auto}.err{color:#a00}section{margin:1.2em 0}";

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{} · salesagent</title>\
<style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    );
    let mut resp = Html(html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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
        "<header><strong>salesagent</strong><a href=\"/operator\">Queue</a><span style=\"flex:1\"></span>\
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

/// For a state-changing form: the session and a matching CSRF token, else 401/403.
fn checked(
    state: &AppState,
    headers: &HeaderMap,
    form: FormResult,
) -> ApiResult<HashMap<String, String>> {
    let session = state
        .sessions
        .get(headers, state.now())
        .ok_or_else(|| ApiError::unauthorized("log in first"))?;
    let Form(fields) = form.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let presented = fields.get("csrf").map_or("", String::as_str);
    if !auth::same_token(&session.csrf, presented) {
        return Err(ApiError::forbidden("missing or wrong CSRF token"));
    }
    Ok(fields)
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
    let token = auth::random_token();
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
    let cookie = auth::set_cookie(LOGIN_COOKIE, &token, 600, state.config().secure_cookies());
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
    let expected = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !auth::same_token(expected, fields.get("csrf").map_or("", String::as_str)) {
        return ApiError::forbidden("missing or wrong CSRF token").into_response();
    }
    let presented = fields.get("token").map_or("", String::as_str);
    let operator = match auth::authenticate(&state, &client, presented).await {
        Ok(auth::Attempt::Operator(op)) => op,
        Ok(auth::Attempt::Wrong) => return login_form(&state, Some("Wrong token.")),
        Ok(auth::Attempt::Throttled(wait)) => return ApiError::rate_limited(wait).into_response(),
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
        &auth::set_cookie(SESSION_COOKIE, &id, max_age, secure),
    );
    with_cookie(resp, &auth::set_cookie(LOGIN_COOKIE, "", 0, secure))
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: FormResult,
) -> ApiResult<Response> {
    checked(&state, &headers, form)?;
    state.sessions.end(&headers);
    let secure = state.config().secure_cookies();
    Ok(with_cookie(
        Redirect::to("/operator/login").into_response(),
        &auth::set_cookie(SESSION_COOKIE, "", 0, secure),
    ))
}

// ---- pages ----

fn flags_html(d: &Draft) -> String {
    let mut out = String::new();
    for f in &d.flags {
        let text = match f {
            DraftFlag::TemplateWritten => "template-written".to_owned(),
            DraftFlag::LowVoiceSimilarity { score_milli } => {
                format!(
                    "low voice similarity ({:.2})",
                    f64::from(*score_milli) / 1000.0
                )
            }
            DraftFlag::Degraded { reason } => format!("degraded: {reason}"),
        };
        let _ = write!(out, "<span class=\"flag\">{}</span>", esc(&text));
    }
    out
}

fn reasons(d: &Draft) -> String {
    d.icp.as_ref().map_or_else(
        || "no ICP score".to_owned(),
        |icp| {
            let top: Vec<String> = icp
                .factors
                .iter()
                .filter(|f| f.points.abs() > f64::EPSILON)
                .take(3)
                .map(|f| format!("{} {:+}", f.name, f.points))
                .collect();
            format!("ICP {} (tier {}) {}", icp.score, icp.tier, top.join(", "))
        },
    )
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

/// What the assistant box shows after a request: the conversation, what was asked, the reply.
struct AssistantTurn<'a> {
    conversation: &'a str,
    asked: &'a str,
    reply: &'a str,
}

async fn render_queue(
    state: &AppState,
    session: &Session,
    turn: Option<AssistantTurn<'_>>,
) -> ApiResult<String> {
    let drafts = pending_drafts(state).await?;
    let kill = state.store().kill_switch().await?;
    let stats = stats(state).await?;
    let mut rows = String::new();
    for item in &drafts {
        let d = &item.draft;
        let _ = write!(
            rows,
            "<tr><td>{:.1}</td><td><a href=\"/operator/drafts/{}\">{}</a><br>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            item.priority,
            d.id,
            esc(d
                .contact_name
                .as_deref()
                .unwrap_or(&d.contact_email.to_string())),
            esc(&d.contact_email.to_string()),
            esc(d.company_name.as_deref().unwrap_or("")),
            esc(&d.subject),
            esc(&reasons(d)),
            flags_html(d),
        );
    }
    if drafts.is_empty() {
        rows.push_str("<tr><td colspan=\"5\">Nothing waiting for review.</td></tr>");
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
        "{}<main><section><h1>Review queue ({})</h1>\
<table id=\"queue\"><tr><th>Priority</th><th>Contact</th><th>Company</th><th>Subject</th><th>Why</th></tr>{rows}</table></section>\
<section><h2>Kill switch</h2><p class=\"{class}\" id=\"kill-state\">Kill switch is {label}.</p>\
<form method=\"post\" action=\"/operator/kill-switch\">{}<input type=\"hidden\" name=\"on\" value=\"{next}\"><button>{verb}</button></form></section>\
<section><h2>Outcomes</h2><p>{} recorded, total impact {}.</p></section>{}</main>",
        nav(session),
        drafts.len(),
        csrf_field(session),
        stats["total"],
        stats["total_impact"],
        assistant_box(session, turn.as_ref()),
    ))
}

/// The assistant box: a text request ("what's next", "approve this", "reject: too early") and,
/// after one, the reply; the conversation id rides along so "this" keeps meaning the same draft.
fn assistant_box(session: &Session, turn: Option<&AssistantTurn<'_>>) -> String {
    let (conversation, exchange) = turn.map_or((String::new(), String::new()), |t| {
        (
            format!(
                "<input type=\"hidden\" name=\"conversation\" value=\"{}\">",
                esc(t.conversation)
            ),
            format!(
                "<p><b>You:</b> {}</p><pre id=\"assistant-reply\">{}</pre>",
                esc(t.asked),
                esc(t.reply)
            ),
        )
    });
    format!(
        "<section><h2>Assistant</h2>{exchange}<form method=\"post\" action=\"/operator/assistant\">{}{conversation}\
<input name=\"text\" maxlength=\"2000\" placeholder=\"what's next / approve this / reject: too early\" required> \
<button>Ask</button></form></section>",
        csrf_field(session)
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

async fn render_draft(state: &AppState, session: &Session, id: &str) -> ApiResult<String> {
    let id = draft_id(id)?;
    let d = state.store().get_draft(id).await?;
    let events = state.store().draft_events(id).await?;
    let csrf = csrf_field(session);
    let writer = match &d.writer {
        DraftWriter::Llm { model } => format!("language model {model}"),
        DraftWriter::Template { reason } => {
            match d.drafting.as_ref().and_then(|r| r.template_reason) {
                Some(why) => format!("template writer ({}: {reason})", why.describe()),
                None => format!("template writer ({reason})"),
            }
        }
        DraftWriter::Human => "operator".to_owned(),
    };
    let profile = d
        .drafting
        .as_ref()
        .and_then(|r| r.voice_profile.clone())
        .map(|p| format!(" to profile {p}"))
        .unwrap_or_default();
    let voice = d.voice_similarity.map_or_else(
        || "no voice profile applied".to_owned(),
        |v| format!("{v:.2}{profile}"),
    );
    let mut out = format!(
        "{}<main><h1>Draft to {}</h1><p>Status <strong id=\"status\">{}</strong> · version {} · written by {} · \
voice similarity {} {}</p>",
        nav(session),
        esc(&d.contact_email.to_string()),
        d.status,
        d.version,
        esc(&writer),
        esc(&voice),
        flags_html(&d),
    );
    if d.status.is_editable() {
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
    if d.status == salesagent_core::model::DraftStatus::Pending {
        let _ = write!(
            out,
            "<section><form class=\"inline\" method=\"post\" action=\"/operator/drafts/{id}/approve\">{csrf}\
<input type=\"hidden\" name=\"version\" value=\"{v}\"><button id=\"approve\">Approve</button></form> \
<form method=\"post\" action=\"/operator/drafts/{id}/reject\">{csrf}<input type=\"hidden\" name=\"version\" value=\"{v}\">\
<p><label>Reject because <input type=\"text\" name=\"reason\" required></label></p><button id=\"reject\">Reject</button></form></section>",
            v = d.version
        );
    }
    if let Some(reason) = &d.status_reason {
        let _ = write!(out, "<p>Reason: {}</p>", esc(reason));
    }
    // [drafting] the facts the text rests on and what validation repaired.
    if let Some(r) = &d.drafting {
        out.push_str("<section id=\"facts-used\"><h2>Facts used</h2>");
        if r.facts.is_empty() {
            out.push_str(
                "<p>None: the text states no fact from the CRM, mail, Drive or calendar.</p>",
            );
        } else {
            out.push_str("<ul>");
            for f in &r.facts {
                let link = f
                    .link
                    .as_deref()
                    .map(|l| format!(" · {}", esc(l)))
                    .unwrap_or_default();
                let _ = write!(
                    out,
                    "<li><strong>{}</strong> ({}): {}{link}</li>",
                    esc(&f.id),
                    esc(&f.source),
                    esc(&f.text)
                );
            }
            out.push_str("</ul>");
        }
        for repair in &r.repairs {
            let _ = write!(out, "<p class=\"flag\">Repaired: {}</p>", esc(repair));
        }
        out.push_str("</section>");
    }
    let _ = write!(
        out,
        "<section><h2>Why this priority</h2><p>{}</p><pre>{}</pre></section>\
<section><h2>Rules</h2><pre>{}</pre></section><section><h2>Send policy</h2><pre>{}</pre></section>\
<section><h2>History</h2><table>",
        esc(&reasons(&d)),
        d.icp
            .as_ref()
            .map(|i| pretty(&i.factors))
            .unwrap_or_default(),
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
            e.action.name(),
            e.after.status,
        );
    }
    out.push_str("</table></section></main>");
    Ok(out)
}

// ---- actions ----

async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormResult,
) -> ApiResult<Response> {
    let fields = checked(&state, &headers, form)?;
    let did = draft_id(&id)?;
    act(
        &state,
        did,
        version_of(&fields)?,
        &web_actor(&state, &headers),
        DraftAction::Approve,
    )
    .await?;
    Ok(back_to(&id))
}

async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormResult,
) -> ApiResult<Response> {
    let fields = checked(&state, &headers, form)?;
    let did = draft_id(&id)?;
    let reason = clean_line(fields.get("reason").map_or("", String::as_str));
    if reason.is_empty() {
        return Err(ApiError::bad_request("reason is required"));
    }
    act(
        &state,
        did,
        version_of(&fields)?,
        &web_actor(&state, &headers),
        DraftAction::Reject { reason },
    )
    .await?;
    Ok(back_to(&id))
}

async fn edit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormResult,
) -> ApiResult<Response> {
    let fields = checked(&state, &headers, form)?;
    let did = draft_id(&id)?;
    // Browsers send CRLF line ends in textareas; keep the body's own line ends as LF.
    let body = fields.get("body").map(|b| b.replace("\r\n", "\n"));
    let action = DraftAction::Edit {
        subject: fields.get("subject").cloned(),
        body,
    };
    act(
        &state,
        did,
        version_of(&fields)?,
        &web_actor(&state, &headers),
        action,
    )
    .await?;
    Ok(back_to(&id))
}

async fn assistant(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: FormResult,
) -> ApiResult<Response> {
    let fields = checked(&state, &headers, form)?;
    let Some(session) = session_of(&state, &headers) else {
        return Ok(Redirect::to("/operator/login").into_response());
    };
    let text = fields.get("text").map_or("", String::as_str);
    let conversation = fields.get("conversation").map(String::as_str);
    let (id, reply) =
        super::assistant::handle_web(&state, conversation, &session.operator.name, text).await?;
    let html = render_queue(
        &state,
        &session,
        Some(AssistantTurn {
            conversation: &id,
            asked: text,
            reply: &reply.text,
        }),
    )
    .await?;
    Ok(page("Queue", &html))
}

async fn kill_switch(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: FormResult,
) -> ApiResult<Response> {
    let fields = checked(&state, &headers, form)?;
    let on = match fields.get("on").map(String::as_str) {
        Some("on") => true,
        Some("off") => false,
        _ => return Err(ApiError::bad_request("on must be \"on\" or \"off\"")),
    };
    switch_kill(&state, on, &web_actor(&state, &headers)).await?;
    Ok(Redirect::to("/operator").into_response())
}
