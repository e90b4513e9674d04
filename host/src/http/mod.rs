//! HTTP: the webhook router and the admin API. A webhook request is matched
//! to a deployed workflow's route and handed to the executor, and the
//! guest's response becomes the HTTP response. Failures answer JSON
//! `{"error": …}`; guest and host internals go to the log, never to the
//! caller.

mod admin;
mod api_error;
pub mod auth;
mod error;
mod invoke;
mod kv_api;
mod observe;
mod runs_api;
mod secrets_api;
mod server;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post, put};
use axum::{extract::DefaultBodyLimit, middleware};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::Layer;

use self::error::WebhookError;
pub use self::server::{ConnectionLimits, RESERVED_FILES, serve};
pub use self::ui::Sessions;
use crate::bindings;
use crate::executions::Executions;
use crate::executor::{Answer, Executor, Failure};
use crate::kv::Kv;
use crate::registry::{Registry, RouteMatch};
use crate::runtime::MAX_TEXT_BYTES;
use crate::secrets::Secrets;

/// Size limits on what crosses the host's HTTP edge.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest webhook request body, in bytes.
    pub request_body: usize,
    /// Largest response body a guest may return, in bytes.
    pub response_body: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self { request_body: 10 << 20, response_body: 10 << 20 }
    }
}

/// Largest component the admin API accepts.
const MAX_COMPONENT_BYTES: usize = 64 << 20;
/// Largest body of an operator KV call with one value (a value is at most
/// 1 MiB of JSON; the rest is room for its envelope), and of a batch.
const MAX_KV_BODY_BYTES: usize = crate::kv::MAX_VALUE_BYTES + (64 << 10);
/// A run's input or an event's payload: the run checks the exact bound.
const MAX_RUN_BODY_BYTES: usize = crate::runs::MAX_JSON_BYTES + (64 << 10);
const MAX_BATCH_BODY_BYTES: usize = 16 << 20;
/// A secret's value, and a little over, so a too-large one is told apart (413).
const MAX_SECRET_BODY_BYTES: usize = crate::secrets::MAX_VALUE_BYTES + 1;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub executor: Arc<Executor>,
    pub kv: Arc<Kv>,
    pub secrets: Arc<Secrets>,
    pub runs: Arc<crate::runs::Runs>,
    pub limits: HttpLimits,
    /// The admin API's bearer token.
    pub token: Arc<str>,
    /// The dashboard's signed-in sessions.
    pub sessions: Arc<Sessions>,
    pub executions: Arc<Executions>,
}

/// The host's routes; tests can drive it without a socket.
pub fn router(state: AppState) -> Router {
    // Each route reads at most what it may accept.
    let limit = |bytes: usize| middleware::from_fn_with_state(bytes, api_error::body_limit);
    let api = Router::new()
        .route("/workflows", get(admin::list))
        .route("/executions", get(observe::executions))
        .route("/executions/live", get(observe::live))
        .route("/metrics/history", get(observe::history))
        .route("/executions/{id}", get(observe::execution))
        .route(
            "/workflows/{id}",
            put(admin::deploy).route_layer(limit(MAX_COMPONENT_BYTES)).get(admin::get).delete(admin::undeploy),
        )
        .route("/workflows/{id}/secrets", get(secrets_api::list))
        .route(
            "/workflows/{id}/secrets/{name}",
            put(secrets_api::set).delete(secrets_api::remove).route_layer(limit(MAX_SECRET_BODY_BYTES)),
        )
        .route(
            "/workflows/{id}/triggers/{name}/invoke",
            post(invoke::invoke).route_layer(limit(state.limits.request_body)),
        )
        .route("/kv/{workflow}", get(kv_api::tables).post(kv_api::batch).route_layer(limit(MAX_BATCH_BODY_BYTES)))
        .route("/kv/{workflow}/{table}", get(kv_api::keys).delete(kv_api::drop_table))
        .route(
            "/kv/{workflow}/{table}/{key}",
            get(kv_api::get)
                .put(kv_api::set)
                .patch(kv_api::increment)
                .delete(kv_api::delete)
                .route_layer(limit(MAX_KV_BODY_BYTES)),
        )
        .route(
            "/kv/{workflow}/permissions/{table}",
            get(kv_api::permissions).put(kv_api::grant).route_layer(limit(MAX_KV_BODY_BYTES)),
        )
        .route("/kv/{workflow}/permissions/{table}/{grantee}", delete(kv_api::revoke))
        .route("/workflows/{id}/runs/{name}", post(runs_api::start).route_layer(limit(MAX_RUN_BODY_BYTES)))
        .route("/runs", get(runs_api::list))
        .route("/runs/{id}", get(runs_api::show))
        .route("/runs/{id}/events/{name}", post(runs_api::event).route_layer(limit(MAX_RUN_BODY_BYTES)))
        .route("/runs/{id}/cancel", post(runs_api::cancel))
        .route("/runs/{id}/rerun", post(runs_api::rerun))
        // The routes above bound their bodies themselves.
        .layer(DefaultBodyLimit::disable())
        .route_layer(middleware::from_fn_with_state(
            auth::Guard { token: state.token.clone(), sessions: state.sessions.clone() },
            auth::require_token,
        ))
        .with_state(state.clone());
    // Around the routing, so it sees answers as routing leaves them (405s
    // with their `Allow`).
    let api = middleware::from_fn(api_error::json_errors).layer(api);
    Router::new()
        .route("/webhook/{*path}", any(webhook))
        .route("/metrics", get(observe::metrics))
        .route("/healthz", get(observe::healthz))
        .route("/readyz", get(observe::readyz))
        .nest_service("/api", api)
        .merge(ui::routes())
        .fallback(|method: Method, uri: Uri| async move {
            WebhookError::NoRoute { method: method.to_string(), path: uri.path().to_owned() }
        })
        .with_state(state)
}

/// The header that names a webhook's execution, for `GET /api/executions/{id}`.
pub const EXECUTION_HEADER: &str = "x-floww-execution-id";

async fn webhook(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri.path().strip_prefix("/webhook").unwrap_or_default().to_owned();
    // HEAD runs as the GET route, unless the workflow declares HEAD; the
    // answer goes without its body.
    let (method, route) = match app.registry.route(method.as_str(), &path) {
        RouteMatch::WrongMethod(allowed) if method == Method::HEAD && allowed.iter().any(|m| m == "GET") => {
            (Method::GET, app.registry.route("GET", &path))
        }
        found => (method, found),
    };
    let deployment = match route {
        RouteMatch::Found(d) => d,
        RouteMatch::WrongMethod(allowed) => {
            let path = uri.path().into();
            return WebhookError::WrongMethod { method: method.to_string(), path, allowed }.into_response();
        }
        RouteMatch::NotFound => {
            return WebhookError::NoRoute { method: method.to_string(), path: uri.path().into() }.into_response();
        }
    };
    let workflow = deployment.manifest.id.to_string();
    // Admitted before the body is read: the queue bounds what the host holds.
    let run = match app.executor.admit(deployment, format!("webhook {method} {path}")).await {
        Ok(run) => run,
        Err(refused) => return with_execution_id(WebhookError::Busy(refused.busy).into_response(), &refused.id),
    };
    let body = match read_body(body, app.limits.request_body).await {
        Ok(body) => body,
        Err(e) => {
            let id = run.refuse(&e);
            return with_execution_id(e.into_response(), &id);
        }
    };
    let request = bindings::Request {
        method: method.to_string(),
        path,
        query,
        headers: headers
            .iter()
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        body,
    };
    let limit = app.limits.response_body;
    let ran = run.run(request, |response| Answered::of(response, limit).map_err(Failure::InvalidOutput)).await;
    let id = ran.id.clone();
    let response = WebhookError::check(workflow, ran).map_or_else(IntoResponse::into_response, |a| a.response);
    with_execution_id(response, &id)
}

/// A guest's answer to a webhook, and what its record keeps of it: the
/// status and, for an error status, the guest's message.
struct Answered {
    response: Response,
    status: u16,
    error: Option<String>,
}

impl Answered {
    fn of(r: bindings::Response, max_body: usize) -> Result<Self, String> {
        let (status, error) = (r.status, (r.status >= 400).then(|| error_text(&r.body)));
        Ok(Answered { response: guest_response(r, max_body)?, status, error })
    }
}

impl Answer for Answered {
    fn http_status(&self) -> Option<u16> {
        Some(self.status)
    }
    fn error_text(&self) -> Option<String> {
        self.error.clone()
    }
}

/// The message of an error answer: its JSON `error`, or the start of its body.
fn error_text(body: &[u8]) -> String {
    let start = &body[..body.len().min(MAX_TEXT_BYTES)];
    let json: Option<serde_json::Value> = serde_json::from_slice(start).ok();
    match json.as_ref().and_then(|v| v["error"].as_str()) {
        Some(message) => message.to_owned(),
        None => String::from_utf8_lossy(start).into_owned(),
    }
}

/// Names the execution in the answer, for `GET /api/executions/{id}`.
pub(super) fn with_execution_id(mut response: Response, id: &str) -> Response {
    if let Ok(id) = HeaderValue::from_str(id) {
        response.headers_mut().insert(EXECUTION_HEADER, id);
    }
    response
}

/// Buffers a request body of at most `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, WebhookError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.is::<LengthLimitError>() => Err(WebhookError::BodyTooLarge { limit }),
        Err(_) => Err(WebhookError::BadBody),
    }
}

/// Headers the host sets itself: a guest's copy could break HTTP framing.
const HOST_HEADERS: [HeaderName; 3] = [header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION];

/// The guest's response as an HTTP response, or why it isn't one.
fn guest_response(r: bindings::Response, max_body: usize) -> Result<Response, String> {
    let status = StatusCode::from_u16(r.status)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
        .ok_or_else(|| format!("status {} is not between 200 and 599", r.status))?;
    if r.body.len() > max_body {
        return Err(format!("its body is {} bytes; the limit is {max_body} bytes", r.body.len()));
    }
    let mut response = Response::new(Body::from(r.body));
    *response.status_mut() = status;
    for (name, value) in r.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
        let value = HeaderValue::from_str(&value).map_err(|_| format!("invalid value for header {name}"))?;
        if !HOST_HEADERS.contains(&name) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> bindings::Response {
        bindings::Response {
            status,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn guest_status_and_headers_pass_through_but_framing_headers_do_not() {
        let r = guest_response(response(201, &[("x-a", "1"), ("content-length", "999")]), 10).unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["x-a"], "1");
        assert!(r.headers().get("content-length").is_none_or(|v| v != "999"));
    }

    #[test]
    fn invalid_guest_responses_are_refused_with_the_reason() {
        assert!(guest_response(response(99, &[]), 10).unwrap_err().contains("status 99"));
        assert!(guest_response(response(700, &[]), 10).is_err());
        assert!(guest_response(response(200, &[("bad name", "x")]), 10).unwrap_err().contains("header name"));
        assert!(guest_response(response(200, &[("x", "a\nb")]), 10).unwrap_err().contains("header x"));
        let too_big = guest_response(response(200, &[]), 1).unwrap_err();
        assert_eq!(too_big, "its body is 2 bytes; the limit is 1 bytes");
    }
}
