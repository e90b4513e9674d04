//! Secrets: the operator writes them and never reads them back; a workflow
//! reads only its own; their values are redacted from what the host keeps
//! and logs; they are sealed at rest, survive a restart, and are shared by
//! the hosts of one PostgreSQL store, which must all hold the same key.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::admin::api;
use crate::harness::{Answer, Host, Store, answer, on_each_store, run_floww};

const PROBE: (&str, &str) = ("probe", "tests/guests/egress-probe");
const OTHER: (&str, &str) = ("other", "tests/guests/egress-probe");
const VALUE: &str = "xoxb-very-secret-4711";

fn put(host: &Host, data: &Path, workflow: &str, name: &str, value: &str) -> Answer {
    answer(api(host, data, "PUT", &format!("/workflows/{workflow}/secrets/{name}")).body(value.to_owned()))
}

fn read(host: &Host, workflow: &str, name: &str) -> (u16, Value) {
    host.post(&format!("/{workflow}/secret"), json!({ "name": name }))
}

fn set_read_list_and_remove_with_values_redacted(store: Store) {
    let (host, store) = Host::start_on(store, &[PROBE, OTHER]);
    let data = store.path();
    let set = put(&host, data, "probe", "SLACK_TOKEN", VALUE);
    assert_eq!((set.status, &set.json), (200, &json!({"name": "SLACK_TOKEN", "set": true})));
    assert_eq!(read(&host, "probe", "SLACK_TOKEN"), (200, json!({ "value": VALUE })));

    let listed = answer(api(&host, data, "GET", "/workflows/probe/secrets"));
    assert_eq!(listed.json["secrets"][0]["name"], "SLACK_TOKEN");
    assert!(listed.json["secrets"][0]["updatedAt"].as_u64().unwrap() > 0);
    assert!(!listed.json.to_string().contains(VALUE), "the API never gives a value back: {}", listed.json);

    // Another workflow (the same code, another id) reads none of them.
    let (status, body) = read(&host, "other", "SLACK_TOKEN");
    assert_eq!(status, 500);
    assert!(body["error"].as_str().unwrap().contains("secret SLACK_TOKEN is not set for this workflow"), "{body}");

    // The value is redacted from the log lines and errors kept and printed.
    let (status, _) = host.post("/probe/secret", json!({ "name": "SLACK_TOKEN", "fail": true }));
    assert_eq!(status, 500);
    let records = answer(api(&host, data, "GET", "/executions?workflow=probe&limit=2")).json;
    let kept = records.to_string();
    assert!(!kept.contains(VALUE), "{kept}");
    assert!(kept.contains("SLACK_TOKEN is [redacted]"), "{kept}");
    assert!(kept.contains("failed while holding [redacted]"), "{kept}");
    assert!(host.logged("SLACK_TOKEN is [redacted]"));
    assert!(!host.logs().contains(VALUE), "the host's own log never shows it");

    let cases = [
        (put(&host, data, "probe", "1BAD", "v"), 400, "secret name \"1BAD\" is not valid"),
        (put(&host, data, "Probe", "OK", "v"), 400, "invalid workflow id"),
        (put(&host, data, "probe", "BIG", &"x".repeat(64 * 1024 + 1)), 413, "at most 65536 bytes"),
        (answer(api(&host, data, "DELETE", "/workflows/probe/secrets/NOPE")), 404, "has no secret \"NOPE\""),
        (answer(host.request("GET", "/api/workflows/probe/secrets")), 401, "missing or wrong admin token"),
    ];
    for (got, status, needle) in cases {
        assert_eq!(got.status, status, "{}", got.json);
        assert!(got.json["error"].as_str().unwrap().contains(needle), "expected {needle:?} in {}", got.json);
    }
    let removed = answer(api(&host, data, "DELETE", "/workflows/probe/secrets/SLACK_TOKEN"));
    assert_eq!((removed.status, &removed.json["removed"]), (200, &json!(true)));
    assert_eq!(read(&host, "probe", "SLACK_TOKEN").0, 500, "gone at once");
}

fn secrets_survive_a_restart_sealed_and_a_wrong_key_is_refused(store: Store) {
    let (host, store) = Host::start_on(store, &[PROBE]);
    assert_eq!(put(&host, store.path(), "probe", "TOKEN", VALUE).status, 200);
    host.stop();
    if store.url().is_none() {
        for file in walk(store.path()) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()), "{} holds the value", file.display());
        }
    }
    let host = Host::start_in(&store, &[]).expect("restarts");
    assert_eq!(read(&host, "probe", "TOKEN"), (200, json!({ "value": VALUE })));
    host.stop();
    let wrong = Host::start_in(&store, &["--secret-key".into(), "ab".repeat(32)]).err().expect("refused");
    assert!(wrong.contains("the secret key does not open the secrets in this store"), "{wrong}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

on_each_store!(
    set_read_list_and_remove_with_values_redacted,
    secrets_survive_a_restart_sealed_and_a_wrong_key_is_refused
);

#[test]
fn hosts_sharing_a_database_share_secrets_with_the_same_key() {
    let key = "cd".repeat(32);
    let with_key = vec!["--secret-key".to_owned(), key];
    let a_store = Store::postgres();
    let a = Host::start_in(&a_store, &[crate::harness::deploys(&[PROBE]), with_key.clone()].concat()).unwrap();
    let b_store = a_store.another_host();
    let b = Host::start_in(&b_store, &with_key).expect("a second host with the same key starts");
    // Before any secret exists, a host with a key of its own starts; once
    // one is set, it may not seal others the rest can't open.
    let racer_store = a_store.another_host();
    let racer = Host::start_in(&racer_store, &[]).expect("without secrets, any key starts");
    assert_eq!(put(&a, a_store.path(), "probe", "TOKEN", VALUE).status, 200);
    let refused = put(&racer, racer_store.path(), "probe", "OTHER", "v");
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert!(refused.json["error"].as_str().unwrap().contains("the secret key does not open the secrets in this store"));
    let start = Instant::now();
    while read(&b, "probe", "TOKEN") != (200, json!({ "value": VALUE })) {
        assert!(start.elapsed() < Duration::from_secs(5), "the other host never saw the secret");
        std::thread::sleep(Duration::from_millis(50));
    }
    let c_store = a_store.another_host();
    let refused = Host::start_in(&c_store, &[]).err().expect("a host with its own key is refused");
    assert!(refused.contains("give every host sharing it the same --secret-key"), "{refused}");
}

#[test]
fn floww_secret_sets_from_stdin_lists_names_and_removes() {
    let (host, data) = Host::start(&[PROBE]);
    let client = ["--host", host.url.as_str(), "--data-dir", data.path().to_str().unwrap()];
    let mut set = crate::harness::floww()
        .args([&["secret", "set", "probe", "TOKEN"][..], &client].concat())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut set.stdin.take().unwrap(), format!("{VALUE}\n").as_bytes()).unwrap();
    let out = set.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read(&host, "probe", "TOKEN"), (200, json!({ "value": VALUE })), "the newline echo adds is dropped");

    let listed = run_floww(&[&["secret", "list", "probe"][..], &client].concat());
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.starts_with("TOKEN  (set 20") && !listed.contains(VALUE), "{listed}");
    let empty = run_floww(&[&["secret", "set", "probe", "OTHER"][..], &client].concat());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no value on stdin: pipe it in"));
    assert!(run_floww(&[&["secret", "rm", "probe", "TOKEN"][..], &client].concat()).status.success());
    let none = run_floww(&[&["secret", "list", "probe"][..], &client].concat());
    assert_eq!(String::from_utf8_lossy(&none.stdout), "Workflow probe has no secrets.\n");
}
