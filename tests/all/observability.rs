//! Watching executions: every execution has an id and a record (status,
//! timing, error, guest log lines in order); `/metrics` counts what ran;
//! health endpoints; `floww logs`; JSON logs.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::admin::api;
use crate::harness::{Host, answer, deploys, floww, run_floww};

const PROBE: (&str, &str) = ("owner", "tests/guests/probe-owner");
const HOSTILE: (&str, &str) = ("hostile", "tests/guests/hostile");

fn record(host: &Host, data: &std::path::Path, id: &str) -> Value {
    let a = answer(api(host, data, "GET", &format!("/executions/{id}")));
    assert_eq!(a.status, 200, "{}", a.json);
    a.json
}

/// Runs `probe-owner` `n` times, each logging its number: the execution ids.
fn logging_executions(host: &Host, n: usize) -> Vec<String> {
    (0..n)
        .map(|n| {
            let a = answer(
                host.request("POST", "/webhook/probe-owner").json(&json!({"op": "log", "lines": [n.to_string()]})),
            );
            assert_eq!(a.status, 200, "{}", a.json);
            a.headers["x-floww-execution-id"].to_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn each_execution_has_an_id_and_a_record_with_its_log_lines_in_order() {
    let (host, data) = Host::start(&[PROBE]);
    let lines = ["first", "second", "third"];
    let a = answer(host.request("POST", "/webhook/probe-owner").json(&json!({"op": "log", "lines": lines})));
    assert_eq!(a.status, 200);
    let id = a.headers["x-floww-execution-id"].to_str().unwrap().to_owned();
    let r = record(&host, data.path(), &id);
    assert_eq!((r["workflow"].as_str(), r["status"].as_str()), (Some("owner"), Some("completed")));
    assert_eq!(r["trigger"], "webhook POST /probe-owner");
    assert!(r["durationMs"].as_f64().unwrap() > 0.0);
    let logged: Vec<&str> = r["logs"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(logged, lines);
    assert_eq!(r["logs"][0]["level"], "info");
    assert_eq!(answer(api(&host, data.path(), "GET", "/executions/nope")).status, 404);
}

#[test]
fn failures_timeouts_and_rejections_are_recorded_too() {
    let data = tempfile::TempDir::new().unwrap();
    let mut args = deploys(&[HOSTILE]);
    args.extend(["--timeout", "1", "--max-concurrency", "1", "--max-queue", "0"].map(String::from));
    let host = Arc::new(Host::start_with(data.path(), &args).unwrap());

    let trapped = answer(host.request("POST", "/webhook/hostile/panic"));
    assert_eq!(trapped.status, 500);
    let id = trapped.json["executionId"].as_str().unwrap();
    assert_eq!(trapped.headers["x-floww-execution-id"], id);
    let r = record(&host, data.path(), id);
    assert_eq!(r["status"], "failed");
    assert!(r["error"].as_str().unwrap().contains("trapped"), "{r}");

    // One endless loop holds the only slot; a second request is turned away.
    let looping = std::thread::spawn({
        let host = host.clone();
        move || answer(host.request("POST", "/webhook/hostile/loop"))
    });
    let running =
        || host.request("GET", "/metrics").send().unwrap().text().unwrap().contains("floww_executions_running 1");
    for _ in 0..200 {
        if running() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(running(), "the loop holds the only slot");
    let rejected = answer(host.request("POST", "/webhook/hostile/panic"));
    assert_eq!(rejected.status, 503, "{}", rejected.json);
    let timed_out = looping.join().unwrap();
    assert_eq!(timed_out.status, 504);
    let r = record(&host, data.path(), timed_out.headers["x-floww-execution-id"].to_str().unwrap());
    assert_eq!(r["status"], "timeout");
    let r = record(&host, data.path(), rejected.headers["x-floww-execution-id"].to_str().unwrap());
    assert_eq!(r["status"], "rejected");

    let failed = answer(api(&host, data.path(), "GET", "/executions?workflow=hostile&status=timeout"));
    assert_eq!(failed.json["executions"].as_array().unwrap().len(), 1, "{}", failed.json);
    let bad = answer(api(&host, data.path(), "GET", "/executions?status=weird"));
    assert_eq!(bad.status, 400);
    assert!(bad.json["error"].as_str().unwrap().contains("completed, failed, timeout, rejected"), "{}", bad.json);
    for (query, message) in
        [("limit=0", "limit 0 is not between 1 and 1000"), ("order=sideways", "order \"sideways\" is not asc or desc")]
    {
        let bad = answer(api(&host, data.path(), "GET", &format!("/executions?{query}")));
        assert_eq!((bad.status, bad.json["error"].as_str()), (400, Some(message)), "{query}");
    }
}

#[test]
fn listings_page_newest_first_or_oldest_first() {
    let (host, data) = Host::start(&[PROBE]);
    let ids = logging_executions(&host, 5);
    let list = |query: &str| answer(api(&host, data.path(), "GET", &format!("/executions?{query}"))).json;
    let page = list("workflow=owner&limit=2");
    let newest: Vec<&str> = page["executions"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(newest, [ids[4].as_str(), ids[3].as_str()]);
    let rest = list(&format!("workflow=owner&limit=10&cursor={}", page["cursor"].as_str().unwrap()));
    assert_eq!(rest["executions"].as_array().unwrap().len(), 3);
    let after = list(&format!("workflow=owner&order=asc&cursor={}", ids[2]));
    let later: Vec<&str> = after["executions"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(later, [ids[3].as_str(), ids[4].as_str()]);
}

/// Records are written in batches a little after their executions end: a
/// host stopped right after answering still keeps every one, in order.
#[test]
fn records_of_the_last_executions_before_a_stop_are_kept() {
    let (host, data) = Host::start(&[PROBE]);
    let ids = logging_executions(&host, 20);
    host.stop();
    let host = Host::start_with(data.path(), &[]).expect("the host starts again");
    let listed = answer(api(&host, data.path(), "GET", "/executions?workflow=owner&order=asc&limit=100")).json;
    let listed: Vec<&str> =
        listed["executions"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids);
    assert_eq!(record(&host, data.path(), &ids[19])["logs"][0]["message"], "19");
}

#[test]
fn metrics_parse_as_prometheus_text_and_count_what_ran() {
    let (host, _data) = Host::start(&[PROBE, HOSTILE]);
    for _ in 0..3 {
        assert_eq!(host.post("/probe-owner", json!({"op": "set", "table": "t", "key": "k", "value": 1})).0, 200);
    }
    assert_eq!(host.post("/probe-owner", json!({"op": "get", "table": "t", "key": "missing"})).0, 404);
    assert_eq!(host.post("/hostile/panic", json!({})).0, 500);

    let text = host.request("GET", "/metrics").send().unwrap().text().unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let owner = [("workflow", "owner"), ("status", "completed")];
    assert_eq!(value("floww_executions_total", &owner), 4.0, "{text}");
    assert_eq!(value("floww_executions_total", &[("workflow", "hostile"), ("status", "failed")]), 1.0);
    assert_eq!(value("floww_kv_operations_total", &[("operation", "set"), ("result", "ok")]), 3.0);
    assert_eq!(value("floww_kv_operations_total", &[("operation", "get"), ("result", "not-found")]), 1.0);
    assert_eq!(value("floww_workflows_deployed", &[]), 2.0);
    assert_eq!(value("floww_queue_depth", &[]), 0.0);
    assert!(text.contains("floww_execution_duration_seconds_count{workflow=\"owner\"} 4"), "{text}");

    for path in ["/healthz", "/readyz"] {
        let a = answer(host.request("GET", path));
        assert_eq!(a.status, 200, "{path}");
    }
    assert_eq!(answer(host.request("GET", "/readyz")).json["workflows"], 2);
}

#[test]
fn floww_logs_shows_executions_and_their_lines() {
    let (host, data) = Host::start(&[PROBE]);
    host.post("/probe-owner", json!({"op": "log", "lines": ["hello from the guest"]}));
    host.post("/probe-owner", json!({"op": "get", "table": "none", "key": "k"}));
    let out = run_floww(&["logs", "owner", "--host", &host.url, "--data-dir", data.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].contains("webhook POST /probe-owner  completed 200  "), "{text}");
    assert!(lines[1].trim_start().starts_with("info") && lines[1].ends_with("hello from the guest"), "{text}");
    // A webhook the guest answered with an error: its status and message.
    assert!(lines[2].contains("webhook POST /probe-owner  completed 404  "), "{text}");
    assert_eq!(lines[3].trim_start(), "error  table \"none\" does not exist", "{text}");
}

/// `floww logs` of an id that was never deployed is an error; of a workflow
/// that has not run yet, it says so.
#[test]
fn floww_logs_tells_an_unknown_workflow_from_one_that_has_not_run() {
    let (host, data) = Host::start(&[PROBE]);
    let dir = data.path().to_str().unwrap();
    let unknown = run_floww(&["logs", "nosuch", "--host", &host.url, "--data-dir", dir]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("404 Not Found: no workflow \"nosuch\" is deployed"), "{stderr}");
    let quiet = run_floww(&["logs", "owner", "--host", &host.url, "--data-dir", dir]);
    assert!(quiet.status.success(), "{}", String::from_utf8_lossy(&quiet.stderr));
    assert_eq!(String::from_utf8_lossy(&quiet.stdout), "no executions of owner yet\n");
}

/// `floww logs --follow` outlives a restart of the host: it says it lost
/// the host, waits, and prints the executions after it is back.
#[test]
fn floww_logs_follows_across_a_restart_of_the_host() {
    let (host, data) = Host::start(&[PROBE]);
    let (url, port) = (host.url.clone(), host.port());
    let mut follower = floww()
        .args(["logs", "owner", "--follow", "--host", &url, "--data-dir"])
        .arg(data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let printed = Arc::new(Mutex::new(String::new()));
    for out in
        [Box::new(follower.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(follower.stderr.take().unwrap())]
    {
        let printed = printed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                printed.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
    }
    let seen = |needle: &str| {
        let start = Instant::now();
        while !printed.lock().unwrap().contains(needle) {
            assert!(start.elapsed() < Duration::from_secs(30), "no {needle:?} in:\n{}", printed.lock().unwrap());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    host.post("/probe-owner", json!({"op": "log", "lines": ["before the restart"]}));
    seen("before the restart");
    host.stop();
    seen("lost the host");
    let host = Host::start_at(&format!("127.0.0.1:{port}"), data.path()).unwrap();
    host.post("/probe-owner", json!({"op": "log", "lines": ["after the restart"]}));
    seen("reconnected");
    seen("after the restart");
    follower.kill().unwrap();
    follower.wait().unwrap();
}

/// A panic's message and place reach the record, the host's log and
/// `floww logs` (after the lines logged before it), never the caller.
#[test]
fn a_panic_says_what_panicked_and_where_in_the_record_and_the_logs() {
    let (host, data) = Host::start(&[HOSTILE]);
    let trapped = answer(host.request("POST", "/webhook/hostile/panic").body("{}"));
    assert_eq!(trapped.status, 500);
    assert!(!trapped.json.to_string().contains("on purpose"), "no internals for the caller: {}", trapped.json);
    let r = record(&host, data.path(), trapped.json["executionId"].as_str().unwrap());
    let error = r["error"].as_str().unwrap();
    let panic = "panicked at tests/guests/hostile/src/lib.rs:";
    assert!(error.starts_with(&format!("the workflow {panic}")), "{error}");
    assert!(error.contains(": the hostile guest panics on purpose (the workflow trapped: "), "{error}");
    assert!(!error.contains("_ZN"), "the backtrace is demangled: {error}");
    let last = &r["logs"].as_array().unwrap().last().unwrap()["message"];
    assert!(last.as_str().unwrap().starts_with(panic), "{r}");
    assert!(host.logged("the hostile guest panics on purpose"), "{}", host.logs());

    let out = run_floww(&["logs", "hostile", "--host", &host.url, "--data-dir", data.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].trim_start().starts_with("error") && lines[1].contains(panic), "{text}");
    assert!(lines[2].trim_start().starts_with("error  the workflow panicked at"), "{text}");
}

#[test]
fn json_logs_carry_the_workflow_and_execution_on_every_execution_line() {
    let data = tempfile::TempDir::new().unwrap();
    let mut args = deploys(&[PROBE]);
    args.extend(["--log-format", "json"].map(String::from));
    let host = Host::start_with(data.path(), &args).unwrap();
    host.post("/probe-owner", json!({"op": "log", "lines": ["from the guest"]}));
    host.post("/probe-owner", json!({"op": "list-tables"}));
    let is_request = |e: &Value| e["fields"]["message"].as_str().is_some_and(|m| m.starts_with("webhook POST"));
    // The harness reads the host's stderr on a thread of its own: the last
    // line may trail the answer by a moment.
    let mut events: Vec<Value> = Vec::new();
    for _ in 0..100 {
        events = host.logs().lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        if events.iter().filter(|e| is_request(e)).count() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let logs = host.logs();
    let guest = events.iter().find(|e| e["fields"]["message"] == "from the guest").expect("the guest line, as JSON");
    assert_eq!(guest["fields"]["workflow"], "owner");
    assert_eq!(guest["fields"]["execution"].as_str().map(str::len), Some(36));
    let requests: Vec<&Value> = events.iter().filter(|e| is_request(e)).collect();
    assert_eq!(requests.len(), 2, "{logs}");
    assert!(requests.iter().all(|e| e["fields"]["workflow"] == "owner" && e["fields"]["execution"].is_string()));
}
