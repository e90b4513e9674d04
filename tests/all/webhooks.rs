//! Routing, limits and failing guests: every error answer is JSON with its
//! status, and the host keeps serving after a guest fails.

use serde_json::json;

use crate::harness::{Host, deploys};

const HOSTILE: (&str, &str) = ("hostile", "tests/guests/hostile");
const PROBE: (&str, &str) = ("owner", "tests/guests/probe-owner");

/// The well-behaved workflow still answers correctly.
fn still_serving(host: &Host, n: i64) {
    let (status, body) = host.post("/probe-owner", json!({"op": "set", "table": "t", "key": "k", "value": n}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = host.post("/probe-owner", json!({"op": "get", "table": "t", "key": "k"}));
    assert_eq!((status, &body["ok"]), (200, &json!(n)));
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let (host, _dir) = Host::start(&[HOSTILE]);
    let (status, body) = host.post("/nope", json!({}));
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no webhook answers POST /webhook/nope");
    let (status, body) = host.send("GET", "/elsewhere", vec![]);
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no webhook answers GET /elsewhere");
    let (status, body) = host.post("/hostile/echo", json!({}));
    assert_eq!(status, 405);
    assert_eq!(body["allowed"], json!(["GET", "OPTIONS"]));
    assert!(body["error"].as_str().unwrap().contains("does not answer POST"), "{body}");
}

#[test]
fn the_guest_sees_the_request_and_its_response_is_the_answer() {
    let (host, _dir) = Host::start(&[HOSTILE]);
    let (status, body) = host.send("GET", "/webhook/hostile/echo?a=1&b=two%20words", b"hello".to_vec());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], "GET");
    assert_eq!(body["path"], "/hostile/echo");
    assert_eq!(body["query"], json!([["a", "1"], ["b", "two words"]]));
    assert_eq!(body["bodyLength"], 5);
    let headers = body["headers"].as_array().unwrap();
    assert!(headers.contains(&json!(["content-type", "application/json"])), "{body}");
}

#[test]
fn a_trapping_guest_gets_500_with_an_execution_id_and_the_host_keeps_serving() {
    let (host, _dir) = Host::start(&[HOSTILE, PROBE]);
    for (n, path) in ["/hostile/panic", "/hostile/unreachable", "/hostile/recurse"].into_iter().enumerate() {
        let (status, body) = host.post(path, json!({}));
        assert_eq!(status, 500, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("workflow \"hostile\" failed"), "{body}");
        let execution = body["executionId"].as_str().unwrap();
        assert_eq!(execution.len(), 36, "{body}");
        assert!(!body.to_string().contains("wasm backtrace"), "no internals leak: {body}");
        still_serving(&host, n as i64);
        assert!(host.logged(execution), "the log names the execution");
    }
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline() {
    let data = tempfile::TempDir::new().unwrap();
    let mut args = deploys(&[HOSTILE, PROBE]);
    args.extend(["--timeout".into(), "1".into()]);
    let host = Host::start_with(data.path(), &args).unwrap();
    let (status, body) = host.post("/hostile/loop", json!({}));
    assert_eq!(status, 504, "{body}");
    assert!(body["error"].as_str().unwrap().contains("ran past its 1s limit"), "{body}");
    still_serving(&host, 1);
}

#[test]
fn a_memory_bomb_fails_alone() {
    let data = tempfile::TempDir::new().unwrap();
    let mut args = deploys(&[HOSTILE, PROBE]);
    args.extend(["--memory-mib".into(), "64".into()]);
    let host = Host::start_with(data.path(), &args).unwrap();
    let (status, body) = host.post("/hostile/memory", json!({}));
    assert_eq!(status, 500, "{body}");
    assert!(body["error"].as_str().unwrap().contains("failed"), "{body}");
    still_serving(&host, 2);
}

#[test]
fn a_guest_sees_no_files_env_or_network() {
    let (host, _dir) = Host::start(&[HOSTILE]);
    let (status, body) = host.post("/hostile/escape", json!({}));
    assert_eq!(status, 200, "{body}");
    for attempt in ["readFile", "readDir", "home", "path", "tcp"] {
        assert!(body[attempt].as_str().unwrap().starts_with("error"), "{attempt}: {body}");
    }
    assert_eq!(body["env"], json!([]), "{body}");
}

#[test]
fn bodies_over_the_limit_get_413() {
    let data = tempfile::TempDir::new().unwrap();
    let mut args = deploys(&[PROBE]);
    args.extend(["--body-limit".into(), "1024".into()]);
    let host = Host::start_with(data.path(), &args).unwrap();
    let (status, body) = host.send("POST", "/webhook/probe-owner", vec![b' '; 1025]);
    assert_eq!(status, 413);
    assert_eq!(body["error"], "request body is larger than the host's limit of 1024 bytes");
    still_serving(&host, 3);
}
