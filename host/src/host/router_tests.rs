//! In-process tests of the router: a real host on a temporary data dir,
//! driven as a tower service (no process, no port), for routing and the
//! mapping of errors to answers. The process-level suite in `tests/` runs
//! the real binary with real workflows.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Config, Host};

const TOKEN: &str = "in-process";

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
}

/// A host of its own, on a data dir of its own.
fn host() -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config =
        Config { data_dir: dir.path().to_owned(), fsync: false, token: Some(TOKEN.into()), ..Config::default() };
    (Host::open(&config).unwrap(), dir)
}

/// Sends one request, with the admin token unless `token` is false.
async fn send(host: &Host, method: &str, uri: &str, body: &[u8], token: bool) -> Answer {
    let mut request = Request::builder().method(method).uri(uri).header(header::CONTENT_TYPE, "application/json");
    if token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    }
    let response = host.router().oneshot(request.body(Body::from(body.to_vec())).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
    Answer { status: parts.status, headers: parts.headers, json }
}

#[tokio::test]
async fn unknown_webhooks_and_paths_answer_404_naming_them() {
    let (host, _dir) = host();
    let a = send(&host, "POST", "/webhook/nope", b"", false).await;
    assert_eq!((a.status, a.json), (StatusCode::NOT_FOUND, json!({"error": "no webhook answers POST /webhook/nope"})));
    let a = send(&host, "GET", "/elsewhere", b"", false).await;
    assert_eq!((a.status, a.json), (StatusCode::NOT_FOUND, json!({"error": "no webhook answers GET /elsewhere"})));
}

#[tokio::test]
async fn the_admin_api_wants_the_token() {
    let (host, _dir) = host();
    let a = send(&host, "GET", "/api/workflows", b"", false).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert!(a.json["error"].as_str().unwrap().starts_with("missing or wrong admin token"), "{}", a.json);
    let a = send(&host, "GET", "/api/workflows", b"", true).await;
    assert_eq!((a.status, a.json), (StatusCode::OK, json!({"workflows": []})));
}

#[tokio::test]
async fn workflow_errors_map_to_their_statuses_and_messages() {
    let (host, _dir) = host();
    let a = send(&host, "GET", "/api/workflows/nope", b"", true).await;
    assert_eq!((a.status, a.json), (StatusCode::NOT_FOUND, json!({"error": "no workflow \"nope\" is deployed"})));
    let a = send(&host, "DELETE", "/api/workflows/nope", b"", true).await;
    assert_eq!((a.status, a.json), (StatusCode::NOT_FOUND, json!({"error": "no workflow \"nope\" is deployed"})));
    let a = send(&host, "PUT", "/api/workflows/x", b"not wasm", true).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json["error"].as_str().unwrap().starts_with("not a usable workflow component: "), "{}", a.json);
    let a = send(&host, "PUT", "/api/workflows/Not_An_Id", b"not wasm", true).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json["error"].as_str().unwrap().starts_with("invalid workflow id \"Not_An_Id\""), "{}", a.json);
    let a = send(&host, "PUT", "/api/workflows/x?timeout=0", b"", true).await;
    assert_eq!(
        (a.status, a.json),
        (StatusCode::BAD_REQUEST, json!({"error": "timeout must be between 0 and 3600 seconds"}))
    );
    let a = send(&host, "POST", "/api/workflows/nope/triggers/go/invoke", b"{}", true).await;
    assert_eq!((a.status, a.json), (StatusCode::NOT_FOUND, json!({"error": "no workflow \"nope\" is deployed"})));
}

#[tokio::test]
async fn kv_errors_map_to_their_statuses_and_messages() {
    let (host, _dir) = host();
    let a = send(&host, "GET", "/api/kv/Bad_Id/t/k", b"", true).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json["error"].as_str().unwrap().starts_with("invalid workflow id \"Bad_Id\""), "{}", a.json);
    let a = send(&host, "GET", "/api/kv/w/missing/k", b"", true).await;
    assert_eq!((a.status, a.json), (StatusCode::NOT_FOUND, json!({"error": "table \"missing\" does not exist"})));
    let a = send(&host, "PUT", "/api/kv/w/t/k", b"{not json", true).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.json);
    let a = send(&host, "PUT", "/api/kv/w/t/k", br#"{"value": {"n": 1}}"#, true).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    let a = send(&host, "GET", "/api/kv/other/t/k", b"", true).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.json);
}

#[tokio::test]
async fn execution_queries_are_checked() {
    let (host, _dir) = host();
    let a = send(&host, "GET", "/api/executions?status=maybe", b"", true).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let message = a.json["error"].as_str().unwrap();
    assert!(message.ends_with("status is one of completed, failed, timeout, rejected, invalid"), "{message}");
    let a = send(&host, "GET", "/api/executions/0190", b"", true).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.json);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let (host, _dir) = host();
    let a = send(&host, "GET", "/healthz", b"", false).await;
    assert_eq!((a.status, a.json), (StatusCode::OK, json!({"status": "ok"})));
    let a = send(&host, "GET", "/readyz", b"", false).await;
    assert_eq!((a.status, a.json), (StatusCode::OK, json!({"status": "ready", "workflows": 0})));
}

#[tokio::test]
async fn every_api_refusal_is_json_with_its_status() {
    let (host, _dir) = host();
    for uri in [
        "/api/kv/w/t?limit=abc",
        "/api/kv/w/t?values=maybe",
        "/api/executions?limit=abc",
        "/api/kv/w/t/%FF%FE",
        "/api/workflows/%FF",
    ] {
        let a = send(&host, "GET", uri, b"", true).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.json);
        assert!(a.json["error"].as_str().is_some_and(|e| !e.is_empty()), "{uri}: {}", a.json);
    }
    let a = send(&host, "PUT", "/api/workflows/x?timeout=abc", b"", true).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.json);
    assert!(a.json["error"].as_str().unwrap().contains("timeout"), "{}", a.json);

    let a = send(&host, "POST", "/api/kv/w/permissions/t", b"{}", true).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.headers[header::ALLOW], "GET, HEAD, PUT");
    assert_eq!(a.json["error"], "/api/kv/w/permissions/t does not answer POST; it answers GET, HEAD, PUT");
    let a = send(&host, "PATCH", "/api/workflows", b"", true).await;
    assert_eq!((a.status, &a.json["allowed"]), (StatusCode::METHOD_NOT_ALLOWED, &json!(["GET", "HEAD"])));
}

/// Sends `chunks` as a body of unknown length.
async fn stream(host: &Host, method: &str, uri: &str, chunks: Vec<Vec<u8>>) -> Answer {
    let chunks = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from_stream(chunks))
        .unwrap();
    let response = host.router().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let json = serde_json::from_slice(&body.collect().await.unwrap().to_bytes()).unwrap();
    Answer { status: parts.status, headers: parts.headers, json }
}

#[tokio::test]
async fn each_route_refuses_a_body_over_what_it_accepts() {
    let (host, _dir) = host();
    let value = vec![b'1'; (1 << 20) + (64 << 10) + 1];
    let a = send(&host, "PUT", "/api/kv/w/t/k", &value, true).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.json);
    assert_eq!(a.json["error"], "request body is larger than the host's limit of 1114112 bytes");
    // Of unknown length: refused once the stream passes the limit.
    let chunks = vec![vec![b' '; 1 << 20], vec![b' '; 1 << 20]];
    let a = stream(&host, "PUT", "/api/kv/w/t/k", chunks).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.json);
    let a = send(&host, "POST", "/api/workflows/w/triggers/go/invoke", &vec![b' '; (10 << 20) + 1], true).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.json);
    assert_eq!(a.json["error"], "request body is larger than the host's limit of 10485760 bytes");
    let a = send(&host, "PUT", "/api/workflows/w", &vec![0; (64 << 20) + 1], true).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.json);
    // What fits reaches the handler.
    let a = send(&host, "PUT", "/api/kv/w/t/k", br#"{"value": [1]}"#, true).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
}

#[tokio::test]
async fn a_deploy_of_what_is_no_workflow_says_what_to_do() {
    let (host, _dir) = host();
    for (bytes, says) in [
        (&b"hello"[..], "it is not WebAssembly: deploy the .wasm that `floww build` prints, or the crate's folder"),
        (
            &b"\0asm\x01\0\0\0"[..],
            "it is a core WebAssembly module, not a component: build the crate for wasm32-wasip2",
        ),
        (&b"\0asm\x0d\0\x01\0"[..], "it is no floww workflow ("),
    ] {
        let a = send(&host, "PUT", "/api/workflows/x", bytes, true).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.json);
        let error = a.json["error"].as_str().unwrap();
        assert!(error.starts_with(&format!("not a usable workflow component: {says}")), "{error}");
    }
}
