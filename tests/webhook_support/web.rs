//! The operator web page from a test's side: cookies, hidden form fields, form posts and the
//! login, shared by `webhook_web.rs` and `operators.rs`.

use super::{Env, text};
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};

/// Every `Set-Cookie` header of `resp`.
pub fn set_cookies(resp: &Response<Body>) -> Vec<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The value cookie `name` is set to in `set`.
pub fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap().to_owned())
}

/// The value of `<input ... name="NAME" value="...">` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .expect("field in page");
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// A form POST (`application/x-www-form-urlencoded`) to `path` carrying `cookie`.
pub fn post_form(path: &str, cookie: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
        .collect();
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body.join("&")))
        .unwrap()
}

/// A GET of `path` carrying `cookie`.
pub fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

/// Logs in to the web page with `token` as a browser does (the login form's CSRF token is the
/// login cookie's value; the session cookie is `HttpOnly` and `SameSite=Strict`); returns the
/// `Cookie` header value of the session.
pub async fn login(env: &Env, token: &str) -> String {
    let resp = env
        .send(Request::get("/operator/login").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let login_cookie = cookie_value(&set_cookies(&resp), "sa_login").unwrap();
    let html = text(resp).await;
    let csrf = hidden(&html, "csrf");
    assert_eq!(csrf, login_cookie);
    let resp = env
        .send(post_form(
            "/operator/login",
            &format!("sa_login={login_cookie}"),
            &[("csrf", &csrf), ("token", token)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set = set_cookies(&resp);
    let session = set.iter().find(|c| c.starts_with("sa_session=")).unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    format!("sa_session={}", cookie_value(&set, "sa_session").unwrap())
}

/// [`login`], then the CSRF token the queue page's forms carry: (session cookie, CSRF token).
pub async fn login_with_csrf(env: &Env, token: &str) -> (String, String) {
    let cookie = login(env, token).await;
    let page = env.send(get("/operator", &cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = hidden(&text(page).await, "csrf");
    (cookie, csrf)
}
