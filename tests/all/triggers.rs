//! Cron and manual triggers on a real host: crons run on schedule, never
//! twice for one tick (across a stop, a crash and a restart), skip what fell
//! while the host was down, stop with their workflow and are checked at
//! deploy; manual triggers check their input against their JSON Schema and
//! answer the workflow's output, error, trap or timeout.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::admin::api;
use crate::harness::{Answer, Host, Store, answer, guest, on_each_store, run_floww};

const CRON: (&str, &str) = ("cron-probe", "tests/guests/cron-probe");
const MANUAL: (&str, &str) = ("manual-probe", "tests/guests/manual-probe");

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Polls `done` every 50 ms until it holds; fails after `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many times the cron probe has run, as its webhook reports it.
fn runs(host: &Host) -> i64 {
    let (status, body) = host.send("GET", "/webhook/cron-probe/runs", Vec::new());
    assert_eq!(status, 200, "{body}");
    body["runs"].as_i64().unwrap()
}

fn invoke(host: &Host, data: &Path, workflow: &str, name: &str, input: &str) -> Answer {
    let path = format!("/workflows/{workflow}/triggers/{name}/invoke");
    answer(api(host, data, "POST", &path).header("content-type", "application/json").body(input.to_owned()))
}

fn deploy(host: &Host, data: &Path, id: &str, guest_dir: &str) -> Answer {
    let bytes = std::fs::read(guest(guest_dir)).unwrap();
    answer(api(host, data, "PUT", &format!("/workflows/{id}")).body(bytes))
}

fn error(answer: &Answer) -> &str {
    answer.json["error"].as_str().unwrap_or_else(|| panic!("no error in {}", answer.json))
}

#[test]
fn a_cron_every_second_runs_about_once_a_second() {
    let (host, _data) = Host::start(&[CRON]);
    let (before, start) = (runs(&host), Instant::now());
    std::thread::sleep(Duration::from_millis(4500));
    let (after, took) = (runs(&host), start.elapsed());
    let ran = after - before;
    // 4 or 5 ticks fall in 4.5 s; the margins absorb a slow machine.
    assert!((3..=6).contains(&ran), "{ran} runs in {took:?}");
}

fn a_tick_never_runs_twice_across_restarts_and_ticks_missed_while_down_are_skipped(store: Store) {
    let (host, data) = Host::start_on(store, &[CRON]);
    wait_until(Duration::from_secs(10), "two runs", || runs(&host) >= 2);
    host.stop();

    // At once after a stop: the tick that ran just before must not run again.
    let host = Host::start_in(&data, &[]).unwrap();
    let base = runs(&host);
    wait_until(Duration::from_secs(10), "two more runs", || runs(&host) >= base + 2);
    host.kill9();

    // After a crash, too.
    let host = Host::start_in(&data, &[]).unwrap();
    let base = runs(&host);
    wait_until(Duration::from_secs(10), "two more runs", || runs(&host) >= base + 2);
    host.stop();

    // Down for 2.5 s: the ticks that fell meanwhile are skipped, not run in a burst.
    let down_from = now_ms();
    std::thread::sleep(Duration::from_millis(2500));
    let restarted_at = now_ms();
    let host = Host::start_in(&data, &[]).unwrap();
    let base = runs(&host);
    wait_until(Duration::from_secs(10), "two more runs", || runs(&host) >= base + 2);
    let logs = host.logs();
    assert!(logs.contains("tick(s) that fell while the host was not running"), "{logs}");
    host.stop();

    let tables = data.tables();
    let ticks = &tables["ticks"].items;
    for (tick, count) in ticks {
        assert_eq!(count, "1", "tick {tick} ran {count} times");
        assert_eq!(tick.parse::<u64>().unwrap() % 1000, 0, "ticks fall on whole seconds");
    }
    let total: usize = tables["runs"].items["count"].parse().unwrap();
    assert_eq!(total, ticks.len(), "one run per tick");
    let burst: Vec<&String> =
        ticks.keys().filter(|t| (down_from + 1..=restarted_at).contains(&t.parse::<u64>().unwrap())).collect();
    assert!(burst.is_empty(), "ticks that fell while the host was down ran: {burst:?}");
}

#[test]
fn redeploys_and_undeploys_start_and_stop_crons() {
    let (host, data) = Host::start(&[]);
    let d = data.path();
    let deployed = deploy(&host, d, "flow", CRON.1);
    assert_eq!(deployed.status, 201, "{}", deployed.json);
    let cron = deployed.json["triggers"].as_array().unwrap().iter().find(|t| t["type"] == "cron").unwrap().clone();
    assert_eq!(cron["schedule"], "* * * * * *");
    assert!(cron["nextAt"].as_u64().unwrap() > now_ms() - 1000, "{cron}");

    // Counted through the operator KV API, which works whatever is deployed.
    let count = || answer(api(&host, d, "GET", "/kv/flow/runs/count")).json["value"].as_i64().unwrap_or(0);
    let stays_put = |what: &str| {
        let before = count();
        std::thread::sleep(Duration::from_millis(2500));
        let after = count();
        // One run may have been under way.
        assert!(after <= before + 1, "runs went on after {what}: {before} then {after}");
    };
    wait_until(Duration::from_secs(10), "a run", || count() >= 1);

    // A redeploy with another component: its cron (03:00 daily) replaces this one.
    assert_eq!(deploy(&host, d, "flow", MANUAL.1).status, 200);
    stays_put("a redeploy without the schedule");
    assert!(!d.join("cron/flow.json").exists(), "the record of the dropped schedule went with it");

    // Back again: the schedule runs again.
    assert_eq!(deploy(&host, d, "flow", CRON.1).status, 200);
    let base = count();
    wait_until(Duration::from_secs(10), "a run after the redeploy", || count() > base);

    assert_eq!(answer(api(&host, d, "DELETE", "/workflows/flow")).status, 200);
    stays_put("the undeploy");
    assert!(!d.join("cron/flow.json").exists());
}

#[test]
fn a_bad_cron_expression_is_refused_at_deploy_with_the_reason() {
    let (host, data) = Host::start(&[]);
    let refused = deploy(&host, data.path(), "bad-cron", "tests/guests/bad-cron");
    assert_eq!(refused.status, 400, "{}", refused.json);
    let message = error(&refused);
    assert!(message.starts_with("invalid trigger: cron schedule \"61 * * * *\" is not valid: "), "{message}");
    let listed = answer(api(&host, data.path(), "GET", "/workflows"));
    assert_eq!(listed.json["workflows"], json!([]), "nothing was deployed");
}

#[test]
fn manual_triggers_are_listed_with_their_schema_and_run_with_valid_input() {
    let (host, data) = Host::start(&[MANUAL]);
    let d = data.path();
    let listed = answer(api(&host, d, "GET", "/workflows/manual-probe")).json;
    let triggers = listed["triggers"].as_array().unwrap();
    let double = triggers.iter().find(|t| t["name"] == "double").unwrap();
    assert_eq!(double["type"], "manual");
    assert_eq!(double["inputSchema"]["required"], json!(["n"]));
    assert_eq!(double["url"], format!("{}/api/workflows/manual-probe/triggers/double/invoke", host.url));
    let echo = triggers.iter().find(|t| t["name"] == "echo").unwrap();
    assert_eq!(echo["inputSchema"], Value::Null);
    let nightly = triggers.iter().find(|t| t["type"] == "cron").unwrap();
    assert_eq!(nightly["schedule"], "0 3 * * *");
    assert_eq!(nightly["nextAt"].as_u64().unwrap() % 86_400_000, 3 * 3_600_000, "03:00 UTC");

    let ran = invoke(&host, d, "manual-probe", "double", r#"{"n": 21, "label": "x"}"#);
    assert_eq!(ran.status, 200, "{}", ran.json);
    assert_eq!(ran.json["output"], json!({"doubled": 42, "label": "x"}));
    assert!(!ran.json["executionId"].as_str().unwrap().is_empty());
    let (_, last) = host.send("GET", "/webhook/manual-probe/last", Vec::new());
    assert_eq!(last, json!({"last": 21}), "the trigger ran as its workflow, with its KV store");

    assert_eq!(invoke(&host, d, "manual-probe", "echo", "").json["output"], json!({"input": null}));
    assert_eq!(invoke(&host, d, "manual-probe", "echo", r#"[1, "a"]"#).json["output"], json!({"input": [1, "a"]}));
}

#[test]
fn manual_input_that_breaks_the_schema_is_a_400_naming_the_error_and_where() {
    let (host, data) = Host::start(&[MANUAL]);
    let d = data.path();
    let cases = [
        (r#"{"n": -1}"#, "at /n: -1 is less than the minimum of 0", "/n", "/n"),
        (r#"{"n": "2"}"#, "at /n: \"2\" is not of type \"integer\"", "/n", "/n"),
        (r#"{"n": 1, "label": 5}"#, "at /label: 5 is not of type \"string\"", "/label", "/label"),
        ("{}", "at the top level: \"n\" is a required property", "", "/n"),
        ("", "at the top level: null is not of type \"object\"", "", ""),
    ];
    for (input, needle, path, field) in cases {
        let refused = invoke(&host, d, "manual-probe", "double", input);
        assert_eq!(refused.status, 400, "{input}: {}", refused.json);
        let message = error(&refused);
        assert!(message.starts_with("the input does not match the input schema of manual trigger \"double\": "));
        assert!(message.contains(needle), "{input}: {message}");
        assert_eq!(refused.json["errors"][0]["path"], path, "{}", refused.json);
        assert_eq!(refused.json["errors"][0]["field"], field, "{}", refused.json);
    }
    let not_json = invoke(&host, d, "manual-probe", "double", "{nope");
    assert_eq!(not_json.status, 400);
    assert!(error(&not_json).starts_with("the input is not JSON: "), "{}", not_json.json);
    let (_, last) = host.send("GET", "/webhook/manual-probe/last", Vec::new());
    assert_eq!(last, json!({"last": null}), "refused input never reached the workflow");
}

#[test]
fn manual_invoke_answers_404_401_and_the_workflows_failures() {
    let (host, data) = Host::start_with_flags(&[MANUAL], &["--timeout", "1"]);
    let d = data.path();

    let unknown = invoke(&host, d, "manual-probe", "nope", "{}");
    assert_eq!(unknown.status, 404);
    assert_eq!(
        error(&unknown),
        "workflow \"manual-probe\" has no manual trigger \"nope\" (it declares: double, echo, fail, trap, spin)"
    );
    let nobody = invoke(&host, d, "nobody", "double", "{}");
    assert_eq!((nobody.status, error(&nobody)), (404, "no workflow \"nobody\" is deployed"));
    let path = "/api/workflows/manual-probe/triggers/echo/invoke";
    assert_eq!(answer(host.request("POST", path).body("{}")).status, 401, "no token");
    assert_eq!(answer(host.request("POST", path).bearer_auth("wrong").body("{}")).status, 401, "wrong token");

    let failed = invoke(&host, d, "manual-probe", "fail", "[1]");
    assert_eq!(failed.status, 500, "{}", failed.json);
    assert_eq!(error(&failed), "nothing to do: [1]", "the workflow's own message");
    assert!(failed.json["executionId"].is_string());

    let trapped = invoke(&host, d, "manual-probe", "trap", "{}");
    assert_eq!(trapped.status, 500, "{}", trapped.json);
    assert!(error(&trapped).contains("failed (trapped)"), "{}", trapped.json);
    assert!(!error(&trapped).contains("on purpose"), "guest internals stay in the log");
    assert!(trapped.json["executionId"].is_string());

    let spun = invoke(&host, d, "manual-probe", "spin", "{}");
    assert_eq!(spun.status, 504, "{}", spun.json);
    assert!(spun.json["executionId"].is_string());

    // The host kept serving.
    assert_eq!(invoke(&host, d, "manual-probe", "echo", "1").json["output"], json!({"input": 1}));
}

/// A manual invoke turned away at capacity is an execution like a
/// webhook's: a 503 naming it, a `rejected` record and a metric.
#[test]
fn a_manual_invoke_at_capacity_is_refused_and_recorded() {
    let (host, data) =
        Host::start_with_flags(&[MANUAL], &["--max-concurrency", "1", "--max-queue", "0", "--timeout", "2"]);
    let d = data.path();
    std::thread::scope(|scope| {
        let spinning = scope.spawn(|| invoke(&host, d, "manual-probe", "spin", "{}"));
        wait_until(Duration::from_secs(5), "the spin runs", || {
            host.request("GET", "/metrics").send().unwrap().text().unwrap().contains("floww_executions_running 1")
        });
        let refused = invoke(&host, d, "manual-probe", "echo", "1");
        assert_eq!(refused.status, 503, "{}", refused.json);
        assert!(error(&refused).starts_with("the host is at capacity: 1 executions running"), "{}", refused.json);
        let id = refused.headers["x-floww-execution-id"].to_str().unwrap().to_owned();
        let record = answer(api(&host, d, "GET", &format!("/executions/{id}")));
        assert_eq!((record.status, &record.json["status"]), (200, &json!("rejected")), "{}", record.json);
        assert_eq!(record.json["trigger"], "manual echo");
        assert_eq!(spinning.join().unwrap().status, 504);
    });
    let metrics = host.request("GET", "/metrics").send().unwrap().text().unwrap();
    let rejected = "floww_executions_total{workflow=\"manual-probe\",trigger=\"manual echo\",status=\"rejected\"} 1";
    assert!(metrics.contains(rejected), "{metrics}");
}

/// A guest's error message is its own text, of any size: the answer, the
/// record and the log get its first 16 KiB.
#[test]
fn a_huge_error_message_is_cut_in_the_answer_the_record_and_the_log() {
    let (host, data) = Host::start(&[MANUAL]);
    let d = data.path();
    let input = json!("x".repeat(8 << 20)).to_string();
    let failed = invoke(&host, d, "manual-probe", "fail", &input);
    assert_eq!(failed.status, 500, "{}", failed.json);
    let message = error(&failed);
    assert!(message.starts_with("nothing to do: \"xxx"), "{}", &message[..40]);
    let whole = "nothing to do: ".len() + input.len();
    assert!(message.ends_with(&format!("… (cut: {whole} bytes in all)")), "{}", &message[message.len() - 40..]);
    assert!(message.len() < 17 * 1024, "{} bytes", message.len());

    let id = failed.json["executionId"].as_str().unwrap();
    let record = answer(api(&host, d, "GET", &format!("/executions/{id}")));
    let kept = record.json["error"].as_str().unwrap();
    assert!(kept.starts_with("the workflow returned an error: nothing to do:"), "{}", &kept[..60]);
    assert!(kept.len() < 17 * 1024, "{} bytes", kept.len());
    assert!(host.logs().len() < 1 << 20, "the host's log holds {} bytes", host.logs().len());
}

#[test]
fn floww_invoke_prints_the_output_json() {
    let (host, data) = Host::start(&[MANUAL]);
    let dir = data.path().to_str().unwrap();
    let run =
        |input: &str| run_floww(&["invoke", "--host", &host.url, "--data-dir", dir, "manual-probe", "double", input]);
    let out = run(r#"{"n": 2}"#);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, json!({"doubled": 4, "label": null}));

    let out = run(r#"{"n": -2}"#);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("400 Bad Request") && stderr.contains("at /n: -2 is less than the minimum of 0"),
        "{stderr}"
    );

    // Several schema errors: every one is printed, each with its place.
    let out = run(r#"{"n": "x", "label": 5}"#);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\n  at /n: \"x\" is not of type \"integer\""), "{stderr}");
    assert!(stderr.contains("\n  at /label: 5 is not of type \"string\""), "{stderr}");
}

#[test]
fn the_scheduled_report_example_counts_events_and_reports_on_demand() {
    let (host, data) = Host::start(&[("scheduled-report", "examples/scheduled-report")]);
    let d = data.path();
    for kind in ["signup", "signup", "purchase"] {
        let (status, body) = host.post("/report/events", json!({ "type": kind }));
        assert_eq!(status, 202, "{body}");
    }
    let report = invoke(&host, d, "scheduled-report", "report-now", r#"{"note": "launch", "reset": true}"#);
    assert_eq!(report.status, 200, "{}", report.json);
    let output = &report.json["output"];
    assert_eq!(output["counts"], json!({"purchase": 1, "signup": 2}));
    assert_eq!((&output["total"], &output["note"], &output["reset"]), (&json!(3), &json!("launch"), &json!(true)));
    let (status, latest) = host.send("GET", "/webhook/report/latest", Vec::new());
    assert_eq!((status, &latest), (200, output));

    let empty = invoke(&host, d, "scheduled-report", "report-now", "{}");
    assert_eq!(empty.json["output"]["total"], 0, "the reset subtracted what was reported");
    let refused = invoke(&host, d, "scheduled-report", "report-now", r#"{"note": 42}"#);
    assert_eq!(refused.status, 400);
    assert!(error(&refused).ends_with("at /note: 42 is not of type \"string\""), "{}", refused.json);
}

on_each_store!(a_tick_never_runs_twice_across_restarts_and_ticks_missed_while_down_are_skipped);
