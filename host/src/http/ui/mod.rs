//! The dashboard at `/ui/`: one page, embedded in the binary (no files to
//! install, nothing fetched from elsewhere), over the admin API.
//!
//! Signing in with the admin token gives a session: a cookie the page's
//! scripts can't read (`HttpOnly`) and browsers send only with requests from
//! the host's own pages (`SameSite=Strict`). The admin API takes that cookie
//! in place of the bearer token; a call that changes something must also
//! carry the session's CSRF token in `X-Floww-Csrf`, which only the host's
//! own pages can read (`GET /ui/session`), so no other site can make one.

mod sessions;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

pub use self::sessions::Sessions;
use super::AppState;
use super::api_error::ApiError;

/// The header that carries a session's CSRF token.
pub const CSRF_HEADER: &str = "x-floww-csrf";
const COOKIE: &str = "floww_session";

/// The pages load only the host's own script and style, run no inline
/// code, and may not be framed by another site (clickjacking).
const PAGE_HEADERS: [(header::HeaderName, &str); 3] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "same-origin"),
];

const INDEX: &str = include_str!("index.html");
const SIGN_IN: &str = include_str!("sign-in.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// The dashboard's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/sign-in", get(|| async { sign_in_page(StatusCode::OK, "") }).post(sign_in))
        .route("/ui/sign-out", post(sign_out))
        .route("/ui/session", get(session))
        .route("/ui/assets/app.js", get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/ui/assets/app.css", get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }))
        .route("/ui/", get(page))
        .route("/ui/{*page}", get(page))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Every page of the dashboard is the same document; its script shows the
/// page its path names. Without a session: the sign-in page.
async fn page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match app.sessions.csrf(&headers) {
        Some(_) => (PAGE_HEADERS, Html(INDEX)).into_response(),
        None => Redirect::to("/ui/sign-in").into_response(),
    }
}

fn sign_in_page(status: StatusCode, error: &str) -> Response {
    (status, PAGE_HEADERS, Html(SIGN_IN.replace("{{error}}", &escape(error)))).into_response()
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

/// `POST /ui/sign-in` with the admin token: a session, then the dashboard.
async fn sign_in(State(app): State<AppState>, Form(form): Form<SignIn>) -> Result<Response, ApiError> {
    if !super::auth::same(form.token.trim().as_bytes(), app.token.as_bytes()) {
        let error = "That is not the admin token: see DATA_DIR/admin-token on the host, or its --token.";
        return Ok(sign_in_page(StatusCode::UNAUTHORIZED, error));
    }
    let id = app.sessions.open().map_err(|e| ApiError::Internal(format!("could not make a session id: {e}")))?;
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", sessions::LIFETIME.as_secs());
    let mut response = Redirect::to("/ui/").into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a valid header"));
    Ok(response)
}

/// `POST /ui/sign-out`: ends the session (with its CSRF token, like any change).
async fn sign_out(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    app.sessions.check(&headers, true)?;
    app.sessions.close(&headers);
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

/// `GET /ui/session`: the session's CSRF token, for the page's scripts.
async fn session(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let csrf = app.sessions.csrf(&headers).ok_or(ApiError::Unauthorized)?;
    Ok(Json(json!({ "csrf": csrf })))
}

/// `text` made safe to put in HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
