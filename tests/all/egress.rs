//! Outbound HTTP: a guest reaches only what its allowlist names, checked
//! after resolution and before any connection; every call is bounded in time
//! and size, and shows in the execution's record and in `/metrics`. The
//! "external API" is a real HTTP server on loopback, started by the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::admin::api;
use crate::harness::{Host, answer, guest};

const EGRESS: (&str, &str) = ("egress", "tests/guests/egress-probe");
/// Bytes `/huge` sends: more than the host reads for one request (16 MiB).
const HUGE: usize = 17 << 20;

/// A stand-in for an external API on loopback: `/slow` answers after five
/// seconds, `/huge` sends 17 MiB, anything else answers what it received
/// as JSON with an `x-upstream` header. It counts the connections it accepts.
struct Upstream {
    port: u16,
    connections: Arc<AtomicUsize>,
    /// The bodies of the requests it answered, in order.
    received: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (counted, kept) = (connections.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let kept = kept.clone();
                std::thread::spawn(move || serve(stream, &kept));
            }
        });
        Upstream { port, connections, received }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, received: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        match line.trim_end().split_once(':') {
            Some((name, value)) => headers.push((name.trim().to_lowercase(), value.trim().to_owned())),
            None => break,
        }
    }
    let length = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    received.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let head = |length: usize, extra: &str| {
        format!("HTTP/1.1 200 OK\r\ncontent-length: {length}\r\nconnection: close\r\n{extra}\r\n")
    };
    match path {
        "/slow" => {
            std::thread::sleep(Duration::from_secs(5));
            let _ = stream.write_all(format!("{}late", head(4, "")).as_bytes());
        }
        "/huge" => {
            let _ = stream.write_all(head(HUGE, "").as_bytes());
            let chunk = vec![b'x'; 1 << 16];
            for _ in 0..HUGE / chunk.len() {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
        _ => {
            let echo = json!({
                "method": method,
                "path": path,
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            })
            .to_string();
            let extra = "content-type: application/json\r\nx-upstream: yes\r\n";
            let _ = stream.write_all(format!("{}{echo}", head(echo.len(), extra)).as_bytes());
        }
    }
}

/// Has workflow `id` make the request `call` describes; its account of it.
fn call(host: &Host, id: &str, call: Value) -> Value {
    let (status, body) = host.post(&format!("/{id}/call"), call);
    assert_eq!(status, 200, "{body}");
    body
}

/// Deploys the egress probe as `id`, removing `deny` from its allowlist.
fn deploy_narrowed(host: &Host, data: &std::path::Path, id: &str, deny: &str) -> crate::harness::Answer {
    let bytes = std::fs::read(guest(EGRESS.1)).unwrap();
    answer(api(host, data, "PUT", &format!("/workflows/{id}")).query(&[("denyHttp", deny)]).body(bytes))
}

#[test]
fn an_allowed_call_keeps_its_body_and_headers_and_shows_in_the_record_and_metrics() {
    let upstream = Upstream::start();
    let (host, data) = Host::start(&[EGRESS]);
    let request = json!({
        "method": "POST",
        "url": upstream.url("/echo?x=1"),
        "headers": [["x-token", "abc"], ["content-type", "text/plain"]],
        "body": "hello",
    });
    let got = call(&host, "egress", request);
    assert_eq!(got["status"], 200, "{got}");
    assert!(got["headers"].as_array().unwrap().contains(&json!(["x-upstream", "yes"])), "{got}");
    let seen: Value = serde_json::from_str(got["body"].as_str().unwrap()).unwrap();
    assert_eq!((&seen["method"], &seen["path"], &seen["body"]), (&json!("POST"), &json!("/echo?x=1"), &json!("hello")));
    let sent = seen["headers"].as_array().unwrap();
    assert!(sent.contains(&json!(["x-token", "abc"])), "{seen}");
    assert!(sent.contains(&json!(["host", format!("127.0.0.1:{}", upstream.port)])), "{seen}");

    // A name works when every address it is allowed to reach is named literally.
    let by_name = call(&host, "egress", json!({ "url": format!("http://localhost:{}/echo", upstream.port) }));
    assert_eq!(by_name["status"], 200, "{by_name}");

    let records = answer(api(&host, data.path(), "GET", "/executions?workflow=egress&limit=2")).json;
    let first = &records["executions"][1]["http"];
    assert_eq!(first.as_array().unwrap().len(), 1, "{records}");
    let origin = format!("http://127.0.0.1:{}", upstream.port);
    assert_eq!(
        (&first[0]["method"], &first[0]["origin"], &first[0]["status"]),
        (&json!("POST"), &json!(origin), &json!(200))
    );
    assert!(first[0]["bytes"].as_u64().unwrap() > 0 && first[0]["error"].is_null(), "{first}");
    let metrics = host.request("GET", "/metrics").send().unwrap().text().unwrap();
    let line = format!("floww_http_requests_total{{workflow=\"egress\",host=\"{origin}\",result=\"ok\"}} 1");
    assert!(metrics.contains(&line), "{metrics}");

    let client = ["--host", host.url.as_str(), "--data-dir", data.path().to_str().unwrap()];
    let logs = crate::harness::run_floww(&[&["logs", "egress"][..], &client[..]].concat());
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(logs.contains(&format!("    http   POST {origin}  ")), "{logs}");

    let described = answer(api(&host, data.path(), "GET", "/workflows/egress")).json;
    assert_eq!(described["allowHttp"], json!(["http://127.0.0.1:*", "http://localhost:*", "http://127.0.0.2:8080"]));
}

#[test]
fn requests_outside_the_allowlist_are_refused_before_any_connection() {
    let upstream = Upstream::start();
    let (host, data) = Host::start(&[EGRESS]);
    let refused = |id: &str, url: String, needle: &str| {
        let got = call(&host, id, json!({ "url": url }));
        assert_eq!(got["error"], "denied", "{url}: {got}");
        assert!(got["message"].as_str().unwrap().contains(needle), "{url}: expected {needle:?} in {got}");
    };
    let https = format!("https://127.0.0.1:{}/echo", upstream.port);
    let all = "http://127.0.0.1:*, http://localhost:*, http://127.0.0.2:8080";
    refused("egress", https, &format!("no allow_http entry matches it (the workflow allows {all})"));
    refused("egress", "http://10.9.8.7/".into(), "http://10.9.8.7:80 is refused");
    refused("egress", "http://127.0.0.2:9999/".into(), "http://127.0.0.2:9999 is refused: no allow_http entry");

    // The operator removes the literal loopback entry: a name that resolves there is refused.
    let narrowed = deploy_narrowed(&host, data.path(), "narrow", "http://127.0.0.1:*");
    assert_eq!(narrowed.status, 201, "{}", narrowed.json);
    assert_eq!(
        (&narrowed.json["allowHttp"], &narrowed.json["deniedHttp"]),
        (&json!(["http://localhost:*", "http://127.0.0.2:8080"]), &json!(["http://127.0.0.1:*"]))
    );
    refused(
        "narrow",
        format!("http://localhost:{}/echo", upstream.port),
        "a loopback address, which only an allow_http entry naming it literally",
    );
    refused("narrow", upstream.url("/echo"), "no allow_http entry matches it");
    let sealed =
        deploy_narrowed(&host, data.path(), "sealed", "http://127.0.0.1:*,http://localhost:*,http://127.0.0.2:8080");
    assert_eq!(sealed.status, 201, "{}", sealed.json);
    refused("sealed", upstream.url("/echo"), "this workflow may make no outbound HTTP requests");
    assert_eq!(upstream.connections(), 0, "no refused request reached the server");

    let unknown = deploy_narrowed(&host, data.path(), "other", "https://nowhere.example");
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.json["error"]
            .as_str()
            .unwrap()
            .contains("\"https://nowhere.example\" is not in the workflow's allow_http list"),
        "{}",
        unknown.json
    );

    let records = answer(api(&host, data.path(), "GET", "/executions?workflow=sealed")).json;
    let denied = &records["executions"][0]["http"][0];
    assert!(denied["error"].as_str().unwrap().contains("may make no outbound HTTP requests"), "{records}");
    let metrics = host.request("GET", "/metrics").send().unwrap().text().unwrap();
    assert!(metrics.contains("floww_http_requests_total{workflow=\"sealed\","), "{metrics}");
    assert!(metrics.contains("result=\"denied\"} 1"), "{metrics}");
}

#[test]
fn the_operator_may_open_private_addresses_to_every_entry() {
    let upstream = Upstream::start();
    let (host, data) = Host::start_with_flags(&[], &["--allow-private-egress"]);
    assert_eq!(deploy_narrowed(&host, data.path(), "narrow", "http://127.0.0.1:*").status, 201);
    let got = call(&host, "narrow", json!({ "url": format!("http://localhost:{}/echo", upstream.port) }));
    assert_eq!(got["status"], 200, "{got}");
}

#[test]
fn timeouts_and_oversized_responses_end_the_call_with_an_error() {
    let upstream = Upstream::start();
    let (host, data) = Host::start(&[EGRESS]);
    let started = Instant::now();
    let late = call(&host, "egress", json!({ "url": upstream.url("/slow"), "timeoutMs": 300 }));
    assert_eq!(late["error"], "timeout", "{late}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());

    let huge = call(&host, "egress", json!({ "url": upstream.url("/huge") }));
    assert_eq!(huge["error"], "too-large", "{huge}");
    let records = answer(api(&host, data.path(), "GET", "/executions?workflow=egress&limit=1")).json;
    let cut = &records["executions"][0]["http"][0];
    assert!(cut["bytes"].as_u64().unwrap() > 16 << 20, "{cut}");
    assert!(cut["error"].as_str().unwrap().contains("larger than 16777216 bytes"), "{cut}");

    // Without a timeout of its own, the call ends with the execution's deadline.
    let bytes = std::fs::read(guest(EGRESS.1)).unwrap();
    let brief = answer(api(&host, data.path(), "PUT", "/workflows/brief").query(&[("timeout", "1")]).body(bytes));
    assert_eq!(brief.status, 201, "{}", brief.json);
    let started = Instant::now();
    let (status, _) = host.post("/brief/call", json!({ "url": upstream.url("/slow") }));
    assert_eq!(status, 504);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[test]
fn floww_deploy_shows_the_allowlist_and_narrows_it() {
    let (host, data) = Host::start(&[]);
    let wasm = guest(EGRESS.1);
    let args = ["deploy", wasm.to_str().unwrap(), "--id", "narrow", "--host", &host.url];
    let out = crate::harness::run_floww(
        &[&args[..], &["--data-dir", data.path().to_str().unwrap(), "--deny-http", "http://127.0.0.1:*"]].concat(),
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("  HTTP   may call http://localhost:*, http://127.0.0.2:8080\n"), "{printed}");
    assert!(printed.contains("  HTTP   removed by the operator: http://127.0.0.1:*\n"), "{printed}");
}

/// HMAC-SHA256 of `body` under `key`, as hex (RFC 2104, over the host's SHA-256).
fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(body).finalize();
    let outer = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_github_to_slack_example_checks_signatures_and_posts_opened_issues() {
    let slack = Upstream::start();
    let (host, data) = Host::start(&[("github-to-slack", "examples/github-to-slack")]);
    let secret = |name: &str, value: &str| {
        let path = format!("/workflows/github-to-slack/secrets/{name}");
        assert_eq!(answer(api(&host, data.path(), "PUT", &path).body(value.to_owned())).status, 200);
    };
    secret("GITHUB_WEBHOOK_SECRET", "gh-hook-secret");
    let described = answer(api(&host, data.path(), "GET", "/workflows/github-to-slack")).json;
    assert_eq!(described["allowHttp"], json!(["{{ SLACK_WEBHOOK_URL }}"]));
    let event = json!({
        "action": "opened",
        "issue": {"number": 7, "title": "Crash on start"},
        "repository": {"full_name": "acme/rocket"},
    })
    .to_string();
    let send = |signature: &str| {
        answer(
            host.request("POST", "/webhook/github")
                .header("x-github-event", "issues")
                .header("x-hub-signature-256", signature)
                .body(event.clone()),
        )
    };
    let signed = format!("sha256={}", hmac_sha256_hex(b"gh-hook-secret", event.as_bytes()));

    // Until SLACK_WEBHOOK_URL is set, its entry allows nothing.
    let unset = send(&signed);
    assert_eq!(unset.status, 500);
    assert!(unset.json["error"].as_str().unwrap().contains("secret SLACK_WEBHOOK_URL is not set"), "{}", unset.json);
    secret("SLACK_WEBHOOK_URL", &slack.url("/services/T0/B0/XYZ"));

    let bad = send(&format!("sha256={}", hmac_sha256_hex(b"wrong", event.as_bytes())));
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json["error"], "X-Hub-Signature-256 does not match the body and the secret");
    let missing = answer(host.request("POST", "/webhook/github").body(event.clone()));
    assert_eq!(missing.status, 401);
    assert!(missing.json["error"].as_str().unwrap().contains("no x-hub-signature-256 header"), "{}", missing.json);

    let posted = send(&signed);
    assert_eq!(posted.status, 200, "{}", posted.json);
    assert_eq!(posted.json["posted"], true);
    assert_eq!(
        slack.received.lock().unwrap().last().unwrap(),
        &json!({"text": "New issue #7: Crash on start"}).to_string()
    );
    let stats = answer(host.request("GET", "/webhook/github/stats"));
    assert_eq!(
        stats.json,
        json!({"acme/rocket": 2}),
        "the attempt before SLACK_WEBHOOK_URL was set had counted already: {}",
        stats.json
    );
}
