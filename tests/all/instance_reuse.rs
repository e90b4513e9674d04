//! Opt-in instance reuse (`--instance-reuse N`, `?instanceReuse=N`): what a
//! reused instance carries from one execution to the next (the guest's
//! memory and globals), what it never does (another workflow's executions,
//! its identity), and when it is dropped. The hostile guest's `remember`
//! answers how many executions its instance has seen and the body the last
//! one left behind.

use std::path::Path;

use serde_json::{Value, json};

use crate::admin::api;
use crate::harness::{Host, answer, guest, run_floww};

const HOSTILE: &str = "tests/guests/hostile";

/// `POST /webhook/{id}/remember` with `body`: (executions seen, body left behind).
fn remember(host: &Host, id: &str, body: &str) -> (u64, Value) {
    let (status, answer) = host.send("POST", &format!("/webhook/{id}/remember"), body.as_bytes().to_vec());
    assert_eq!(status, 200, "{answer}");
    (answer["executionsSeen"].as_u64().expect("a count"), answer["leftBehind"].clone())
}

/// Deploys the hostile guest as `id` through the admin API with `query`.
fn deploy(host: &Host, data: &Path, id: &str, query: &str) -> crate::harness::Answer {
    let bytes = std::fs::read(guest(HOSTILE)).unwrap();
    answer(api(host, data, "PUT", &format!("/workflows/{id}{query}")).body(bytes))
}

#[test]
fn a_reused_instance_keeps_the_guests_memory_for_n_executions_then_a_fresh_one_starts() {
    let (host, data) = Host::start(&[]);
    let deployed = deploy(&host, data.path(), "hostile", "?instanceReuse=3");
    assert_eq!(deployed.status, 201, "{}", deployed.json);
    assert_eq!(deployed.json["instanceReuse"], 3);

    assert_eq!(remember(&host, "hostile", "one"), (1, Value::Null));
    assert_eq!(remember(&host, "hostile", "two"), (2, json!("one")), "globals and memory carried over");
    assert_eq!(remember(&host, "hostile", "three"), (3, json!("two")));
    assert_eq!(remember(&host, "hostile", "four"), (1, Value::Null), "after 3 executions, a fresh instance");
    assert_eq!(remember(&host, "hostile", "five"), (2, json!("four")));

    // Each execution keeps its own record, whichever instance ran it.
    let records = answer(api(&host, data.path(), "GET", "/executions?workflow=hostile&limit=10")).json;
    assert_eq!(records["executions"].as_array().map(Vec::len), Some(5), "{records}");
}

#[test]
fn the_host_default_applies_to_workflows_without_a_choice_and_1_means_fresh() {
    let (host, data) = Host::start_with_flags(&[], &["--instance-reuse", "50"]);
    assert_eq!(deploy(&host, data.path(), "hostile", "").json["instanceReuse"], 50);
    assert_eq!(deploy(&host, data.path(), "fresh", "?instanceReuse=1").json["instanceReuse"], 1);
    for n in 1..=3 {
        assert_eq!(remember(&host, "hostile", "x").0, n);
        assert_eq!(remember(&host, "fresh", "y"), (1, Value::Null), "a fresh instance each time");
    }
}

#[test]
fn a_reused_instance_serves_only_its_own_workflow() {
    let (host, data) = Host::start_with_flags(&[], &["--instance-reuse", "100"]);
    let d = data.path();
    // One component under two ids: the same code, separate instances.
    for id in ["hostile", "other"] {
        assert_eq!(deploy(&host, d, id, "").status, 201);
    }
    assert_eq!(remember(&host, "hostile", "mine"), (1, Value::Null));
    assert_eq!(remember(&host, "other", "theirs"), (1, Value::Null), "nothing of hostile's execution");
    assert_eq!(remember(&host, "hostile", "mine again"), (2, json!("mine")));
    assert_eq!(remember(&host, "other", "theirs again"), (2, json!("theirs")));

    // Identity is per execution: `other`, on its warm instance, is still
    // `other` and may not touch `hostile`'s table.
    let put = answer(api(&host, d, "PUT", "/kv/hostile/vault/key").json(&json!({ "value": "hostile's" })));
    assert_eq!(put.status, 200, "{}", put.json);
    assert_eq!(host.send("GET", "/webhook/hostile/tables", Vec::new()).1, json!({ "tables": ["vault"] }));
    assert_eq!(host.send("GET", "/webhook/other/tables", Vec::new()).1, json!({ "tables": [] }));
    let (status, stolen) = host.post("/other/steal", json!({ "table": "vault", "key": "key", "owner": "hostile" }));
    assert_eq!(status, 200, "{stolen}");
    for (op, outcome) in stolen["attempts"].as_object().expect("attempts") {
        assert_eq!(outcome, "permission-denied", "{op}: {stolen}");
    }
    assert_eq!(remember(&host, "other", "later"), (3, json!("theirs again")), "all on one warm instance");
    let kept = answer(api(&host, d, "GET", "/kv/hostile/vault/key")).json;
    assert_eq!(kept["value"], "hostile's", "{kept}");
}

#[test]
fn a_trap_a_timeout_a_memory_bomb_or_a_redeploy_drops_the_reused_instance() {
    let (host, data) =
        Host::start_with_flags(&[], &["--instance-reuse", "100", "--timeout", "1", "--memory-mib", "64"]);
    let d = data.path();
    assert_eq!(deploy(&host, d, "hostile", "").status, 201);

    assert_eq!(remember(&host, "hostile", "a").0, 1);
    assert_eq!(remember(&host, "hostile", "b").0, 2);
    assert_eq!(host.post("/hostile/panic", json!({})).0, 500);
    assert_eq!(remember(&host, "hostile", "after the panic"), (1, Value::Null));

    assert_eq!(remember(&host, "hostile", "b").0, 2);
    assert_eq!(host.post("/hostile/loop", json!({})).0, 504);
    assert_eq!(remember(&host, "hostile", "after the loop"), (1, Value::Null));

    assert_eq!(remember(&host, "hostile", "b").0, 2);
    let (status, body) = host.post("/hostile/memory", json!({}));
    assert_eq!(status, 500, "{body}");
    assert_eq!(remember(&host, "hostile", "after the bomb"), (1, Value::Null));

    assert_eq!(remember(&host, "hostile", "b").0, 2);
    assert_eq!(deploy(&host, d, "hostile", "").status, 200, "a redeploy of the same component");
    assert_eq!(remember(&host, "hostile", "after the redeploy"), (1, Value::Null));
}

#[test]
fn a_reuse_count_below_1_or_not_a_number_is_refused_with_its_reason() {
    let (host, data) = Host::start(&[]);
    let d = data.path();
    let zero = deploy(&host, d, "hostile", "?instanceReuse=0");
    assert_eq!(zero.status, 400);
    assert_eq!(
        zero.json["error"],
        "instanceReuse must be 1 (a fresh instance per execution) or more (executions one instance serves)"
    );
    let word = deploy(&host, d, "hostile", "?instanceReuse=many");
    assert_eq!(word.status, 400);
    let error = word.json["error"].as_str().unwrap_or_default();
    assert!(error.contains("instanceReuse") && error.contains("invalid digit"), "{}", word.json);
    assert_eq!(answer(api(&host, d, "GET", "/workflows/hostile")).status, 404, "nothing was deployed");

    let cli = run_floww(&["deploy", "--instance-reuse", "0", guest(HOSTILE).to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(!cli.status.success() && stderr.contains("--instance-reuse"), "{stderr}");
    let serve = run_floww(&["serve", "--instance-reuse", "0"]);
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success() && stderr.contains("0 is not in 1.."), "{stderr}");
}

#[test]
fn floww_deploy_sets_the_reuse_count_and_says_so() {
    let (host, data) = Host::start(&[]);
    let token = crate::admin::token(data.path());
    let wasm = guest(HOSTILE);
    let out = run_floww(&[
        "deploy",
        wasm.to_str().unwrap(),
        "--id",
        "hostile",
        "--instance-reuse",
        "10",
        "--host",
        &host.url,
        "--token",
        &token,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("REUSE  one instance serves up to 10 executions"), "{stdout}");
    assert_eq!(remember(&host, "hostile", "x").0, 1);
    assert_eq!(remember(&host, "hostile", "y").0, 2);
}
