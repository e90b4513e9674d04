//! Durable runs on a real host, on sled and on PostgreSQL, with the
//! `run-probe` guest deployed as `runs`: steps run once and are journaled
//! with their attempts; a run outlives `kill -9` between and during steps,
//! and a stop during a sleep, without a step's writes counting twice or
//! going missing; retries back off; events reach a run before and after it
//! waits; idempotency keys hold under concurrent starts; cancel, rerun,
//! non-determinism, start errors, listing, metrics; and on PostgreSQL a run
//! whose host dies is taken over by another host once its lease runs out.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};

use crate::admin::{api, token};
use crate::harness::{Answer, Host, Store, answer, deploys, on_each_store};

const RUNS: (&str, &str) = ("runs", "tests/guests/run-probe");

/// Short enough for a lease (2 × timeout + 10 s) to run out within a test,
/// long enough for an invocation of the `steps` runs below (3 × 800 ms).
const TIMEOUT: [&str; 2] = ["--timeout", "4"];
/// The lease a claim takes with [`TIMEOUT`], in ms.
const LEASE_MS: u64 = (2 * 4 + 10) * 1000;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Polls `done` every 20 ms until it gives a value; fails after `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = done() {
            return value;
        }
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `--deploy` arguments for the probe, then `flags`.
fn args(flags: &[&str]) -> Vec<String> {
    let mut args = deploys(&[RUNS]);
    args.extend(flags.iter().map(|f| f.to_string()));
    args
}

fn admin(host: &Host, store: &Store, method: &str, path: &str) -> RequestBuilder {
    api(host, store.path(), method, path)
}

fn error(a: &Answer) -> &str {
    a.json["error"].as_str().unwrap_or_else(|| panic!("no error in {} {}", a.status, a.json))
}

/// Starts run function `name` through the probe's `/start` webhook.
fn start(host: &Host, name: &str, input: Value) -> String {
    let (status, body) = host.post("/start", json!({"name": name, "input": input}));
    assert_eq!(status, 202, "{body}");
    body["runId"].as_str().unwrap().to_owned()
}

/// Starts run function `name` through the admin API, with `key` if given.
fn start_api(host: &Host, store: &Store, name: &str, input: &str, key: Option<&str>) -> Answer {
    let query = key.map(|k| format!("?key={k}")).unwrap_or_default();
    answer(admin(host, store, "POST", &format!("/workflows/runs/runs/{name}{query}")).body(input.to_owned()))
}

/// `GET /api/runs/{id}`.
fn show(host: &Host, store: &Store, id: &str) -> Value {
    let a = answer(admin(host, store, "GET", &format!("/runs/{id}")));
    assert_eq!(a.status, 200, "{}", a.json);
    a.json
}

/// Waits for run `id` to be `want`, and returns it then; fails at once if
/// it ends otherwise.
fn settle(host: &Host, store: &Store, id: &str, want: &str, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let run = show(host, store, id);
        let status = run["status"].as_str().unwrap();
        if status == want {
            return run;
        }
        assert!(
            !["completed", "failed", "cancelled"].contains(&status),
            "run {id} ended {status}, not {want}: {run:#}"
        );
        assert!(start.elapsed() < limit, "waited {limit:?} for run {id} to be {want}: {run:#}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ended(host: &Host, store: &Store, id: &str, want: &str) -> Value {
    settle(host, store, id, want, Duration::from_secs(30))
}

/// The probe's `progress` table, `{key: count}`.
fn progress(host: &Host) -> Value {
    let (status, body) = host.send("GET", "/webhook/progress", Vec::new());
    assert_eq!(status, 200, "{body}");
    body
}

/// A counter of `progress`; 0 when absent.
fn count(progress: &Value, key: &str) -> i64 {
    progress.get(key).map_or(0, |v| v.as_i64().unwrap_or_else(|| panic!("{key} is {v}")))
}

/// Every counter of `tag`'s `steps` run is 1, and its total `steps`.
fn assert_each_step_counted_once(progress: &Value, tag: &str, steps: i64) {
    for i in 0..steps {
        assert_eq!(count(progress, &format!("{tag}:{i}")), 1, "step {i} of {tag}: {progress}");
    }
    assert_eq!(count(progress, &format!("{tag}:total")), steps, "{progress}");
}

/// The journal entries of a shown run (with the pending one, if any).
fn steps(run: &Value) -> &Vec<Value> {
    run["steps"].as_array().unwrap_or_else(|| panic!("no steps in {run:#}"))
}

fn attempts(entry: &Value) -> &Vec<Value> {
    entry["attempts"].as_array().unwrap_or_else(|| panic!("no attempts in {entry:#}"))
}

/// The execution the only attempt of step `entry` ran in.
fn execution(entry: &Value) -> String {
    let attempts = attempts(entry);
    assert_eq!(attempts.len(), 1, "one attempt: {entry:#}");
    attempts[0]["execution"].as_str().unwrap().to_owned()
}

fn ms(value: &Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("not a time: {value}"))
}

/// A sample of `/metrics`, as its whole line `name{labels} value`.
fn metric_line(host: &Host, name_and_labels: &str) -> Option<String> {
    let text = host.request("GET", "/metrics").send().unwrap().text().unwrap();
    text.lines().find(|l| l.rsplit_once(' ').is_some_and(|(k, _)| k == name_and_labels)).map(str::to_owned)
}

/// Waits for `/metrics` to show `name{labels} value`.
fn wait_for_metric(host: &Host, name_and_labels: &str, value: u64) {
    let want = format!("{name_and_labels} {value}");
    let mut seen = None;
    let found = Instant::now();
    while found.elapsed() < Duration::from_secs(10) {
        seen = metric_line(host, name_and_labels);
        if seen.as_deref() == Some(want.as_str()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("/metrics never showed {want:?}; last: {seen:?}");
}

fn a_run_completes_its_steps_each_journaled_once_with_its_execution(store: Store) {
    let (host, store) = Host::start_on(store, &[RUNS]);
    let id = start(&host, "steps", json!({"tag": "a", "steps": 3, "stepMs": 0}));
    let run = ended(&host, &store, &id, "completed");
    assert_eq!((run["workflow"].as_str(), run["name"].as_str()), (Some("runs"), Some("steps")), "{run:#}");
    assert_eq!(run["input"], json!({"tag": "a", "steps": 3, "stepMs": 0}));
    assert_eq!(run["output"], json!({"done": 3}));
    assert_eq!((&run["error"], run["invocations"].as_u64()), (&Value::Null, Some(1)), "{run:#}");
    assert!(ms(&run["endedAt"]) >= ms(&run["createdAt"]), "{run:#}");
    let journal = steps(&run);
    assert_eq!(journal.len(), 3, "{run:#}");
    let first = execution(&journal[0]);
    for (i, entry) in journal.iter().enumerate() {
        assert_eq!(entry["index"], i);
        assert_eq!((entry["kind"].as_str(), entry["status"].as_str()), (Some("step"), Some("completed")), "{entry}");
        assert_eq!(entry["name"], format!("step-{i}"));
        assert_eq!(entry["output"], i, "each step's output is its number");
        assert_eq!(entry["error"], Value::Null);
        assert_eq!(execution(entry), first, "one invocation ran them all");
        let attempt = &attempts(entry)[0];
        assert!(ms(&attempt["startedAt"]) <= ms(&attempt["endedAt"]), "{attempt}");
        assert!(ms(&entry["startedAt"]) <= ms(&entry["endedAt"]), "{entry}");
        assert_eq!(attempt.get("error"), None, "{attempt}");
    }
    assert_each_step_counted_once(&progress(&host), "a", 3);

    // The invocation is an execution, which names its run.
    let record = wait_for(Duration::from_secs(10), "the execution record", || {
        let a = answer(admin(&host, &store, "GET", &format!("/executions/{first}")));
        (a.status == 200).then_some(a.json)
    });
    assert_eq!(record["run"], id.as_str(), "{record:#}");
    assert_eq!(record["trigger"], "run steps", "{record:#}");
    assert_eq!((record["workflow"].as_str(), record["status"].as_str()), (Some("runs"), Some("completed")));

    // A run function that returns an error fails the run with it, keeping its steps.
    let failing = start(&host, "fail", json!(null));
    let run = ended(&host, &store, &failing, "failed");
    assert_eq!(run["error"], "the run gave up", "{run:#}");
    assert_eq!(run["output"], Value::Null);
    let journal = steps(&run);
    assert_eq!(journal.len(), 1, "{run:#}");
    assert_eq!((journal[0]["name"].as_str(), journal[0]["status"].as_str()), (Some("only"), Some("completed")));

    let listed = answer(admin(&host, &store, "GET", "/runs?workflow=runs"));
    assert_eq!(listed.status, 200, "{}", listed.json);
    let listed: Vec<(&str, &str)> = listed.json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [(failing.as_str(), "failed"), (id.as_str(), "completed")], "newest first");

    wait_for_metric(&host, r#"floww_runs_total{workflow="runs",status="started"}"#, 2);
    wait_for_metric(&host, r#"floww_runs_total{workflow="runs",status="completed"}"#, 1);
    wait_for_metric(&host, r#"floww_runs_total{workflow="runs",status="failed"}"#, 1);
    wait_for_metric(&host, r#"floww_run_step_attempts_total{workflow="runs",result="ok"}"#, 4);
}

/// `kill -9` while the run sleeps between two steps, and a restart at once
/// on the same store: the run sleeps on and wakes at its time, and neither
/// step runs twice.
fn a_run_killed_in_its_sleep_between_steps_resumes_at_its_time_after_a_restart(store: Store) {
    let host = Host::start_in(&store, &args(&[])).unwrap();
    let id = start(&host, "sleepy", json!({"tag": "k", "ms": 3000}));
    let run = settle(&host, &store, &id, "sleeping", Duration::from_secs(10));
    let journal = steps(&run);
    assert_eq!(journal.len(), 2, "step `before`, then the sleep pending: {run:#}");
    let before = execution(&journal[0]);
    let nap = &journal[1];
    assert_eq!(
        (nap["kind"].as_str(), nap["name"].as_str(), nap["status"].as_str()),
        (Some("sleep"), Some("nap"), Some("sleeping"))
    );
    let wake_at = ms(&nap["wakeAt"]);
    // The guest reads its clock for "now + 3 s" a moment before the host
    // stamps the step's start, so the gap may be a millisecond or so short.
    let asked = wake_at.saturating_sub(ms(&nap["startedAt"]));
    assert!((2_900..=3_000).contains(&asked), "{nap}");
    assert_eq!(ms(&run["dueAt"]), wake_at, "{run:#}");
    host.kill9();

    let host = Host::start_in(&store, &[]).unwrap();
    let run = ended(&host, &store, &id, "completed");
    assert_eq!(run["output"], json!({"slept": 3000}));
    let journal = steps(&run);
    let names: Vec<&str> = journal.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["before", "nap", "after"], "{run:#}");
    assert_eq!(execution(&journal[0]), before, "`before` was journaled before the kill and never ran again");
    assert!(ms(&journal[1]["endedAt"]) >= wake_at, "the sleep ended at its time: {run:#}");
    assert!(ms(&journal[2]["startedAt"]) >= wake_at, "`after` ran once the sleep was over: {run:#}");
    assert_ne!(execution(&journal[2]), before);
    let progress = progress(&host);
    assert_eq!((count(&progress, "k:before"), count(&progress, "k:after")), (1, 1), "{progress}");
}

/// A stop while the run sleeps, and a restart after its wake time: it
/// wakes on the restarted host, once.
fn a_run_stopped_in_its_sleep_resumes_when_the_host_comes_back_after_its_wake_time(store: Store) {
    let host = Host::start_in(&store, &args(&[])).unwrap();
    let id = start(&host, "sleepy", json!({"tag": "s", "ms": 1000}));
    let run = settle(&host, &store, &id, "sleeping", Duration::from_secs(10));
    let wake_at = ms(&steps(&run)[1]["wakeAt"]);
    host.stop();
    std::thread::sleep(Duration::from_millis((wake_at + 300).saturating_sub(now_ms())));

    let restarted_at = now_ms();
    let host = Host::start_in(&store, &[]).unwrap();
    let run = ended(&host, &store, &id, "completed");
    let journal = steps(&run);
    assert_eq!(journal.len(), 3, "{run:#}");
    assert!(ms(&journal[1]["endedAt"]) >= restarted_at, "the restarted host ended the sleep: {run:#}");
    assert!(ms(&journal[2]["startedAt"]) >= wake_at, "{run:#}");
    assert_ne!(execution(&journal[0]), execution(&journal[2]));
    assert!(run["suspendedMs"].as_u64().unwrap() >= 1000, "{run:#}");
    let progress = progress(&host);
    assert_eq!((count(&progress, "s:before"), count(&progress, "s:after")), (1, 1), "{progress}");
}

/// `kill -9` in the middle of a step: the step runs again after the restart
/// (on PostgreSQL once the killed host's lease has run out), and its KV
/// writes count once; the steps journaled before the kill don't run again.
fn a_run_killed_during_a_step_runs_that_step_again_and_its_writes_count_once(store: Store) {
    let host = Host::start_in(&store, &args(&TIMEOUT)).unwrap();
    let id = start(&host, "steps", json!({"tag": "d", "steps": 3, "stepMs": 800}));
    // Step 0 journaled: step 1 runs for the next 800 ms.
    let journaled = wait_for(Duration::from_secs(10), "step 0 to be journaled", || {
        let run = show(&host, &store, &id);
        (!steps(&run).is_empty()).then_some(run)
    });
    host.kill9();
    assert_eq!(journaled["status"], "running", "{journaled:#}");
    let journaled: Vec<(String, String)> =
        steps(&journaled).iter().map(|e| (e["name"].as_str().unwrap().to_owned(), execution(e))).collect();
    assert!(journaled.len() < 3, "the run was still under way: {journaled:?}");

    let host = Host::start_in(&store, &TIMEOUT.map(str::to_owned)).unwrap();
    let run = settle(&host, &store, &id, "completed", Duration::from_millis(LEASE_MS + 30_000));
    assert_eq!(run["output"], json!({"done": 3}));
    let journal = steps(&run);
    assert_eq!(journal.len(), 3, "{run:#}");
    let first = &journaled[0].1;
    for (i, (name, execution_before)) in journaled.iter().enumerate() {
        assert_eq!(journal[i]["name"], name.as_str());
        assert_eq!(&execution(&journal[i]), execution_before, "step {i} was journaled before the kill: {run:#}");
    }
    let resumed: Vec<String> = journal.iter().map(execution).filter(|e| e != first).collect();
    assert!(!resumed.is_empty(), "the killed invocation did not journal every step: {run:#}");
    assert!(resumed.iter().all(|e| *e == resumed[0]), "one invocation after the restart: {run:#}");
    assert_each_step_counted_once(&progress(&host), "d", 3);
}

/// A stop (SIGTERM) in the middle of a step: after a restart on the same
/// store the run completes, each step's writes counted once.
fn a_run_stopped_during_a_step_completes_after_a_restart(store: Store) {
    let host = Host::start_in(&store, &args(&TIMEOUT)).unwrap();
    let id = start(&host, "steps", json!({"tag": "t", "steps": 3, "stepMs": 800}));
    wait_for(Duration::from_secs(10), "step 0 to be journaled", || {
        (!steps(&show(&host, &store, &id)).is_empty()).then_some(())
    });
    host.stop();

    let host = Host::start_in(&store, &TIMEOUT.map(str::to_owned)).unwrap();
    let run = settle(&host, &store, &id, "completed", Duration::from_millis(LEASE_MS + 30_000));
    let journal = steps(&run);
    assert_eq!(journal.len(), 3, "{run:#}");
    for entry in journal {
        execution(entry);
    }
    assert_each_step_counted_once(&progress(&host), "t", 3);
}

fn retries_back_off_and_only_the_successful_attempt_writes(store: Store) {
    let (host, store) = Host::start_on(store, &[RUNS]);
    let flaky = |tag: &str, failures: u32, permanent: bool, attempts: u32| {
        let input = json!({"tag": tag, "failures": failures, "permanent": permanent, "attempts": attempts});
        start(&host, "flaky", input)
    };
    let recovers = flaky("r", 2, false, 5);
    let declined = flaky("p", 1, true, 5);
    let exhausted = flaky("x", 5, false, 2);

    let run = ended(&host, &store, &recovers, "completed");
    assert_eq!(run["output"], json!({"attempt": 3}));
    let journal = steps(&run);
    assert_eq!(journal.len(), 1, "{run:#}");
    assert_eq!((journal[0]["name"].as_str(), journal[0]["status"].as_str()), (Some("charge"), Some("completed")));
    assert_eq!(journal[0]["output"], 3);
    let tries = attempts(&journal[0]);
    assert_eq!(tries.len(), 3, "{run:#}");
    for (i, attempt) in tries.iter().enumerate() {
        let logged: Vec<&str> =
            attempt["logs"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
        assert_eq!(logged, [format!("charging, attempt {}", i + 1)], "{attempt}");
    }
    assert_eq!(tries[0]["error"], "gateway timeout on attempt 1");
    assert_eq!(tries[1]["error"], "gateway timeout on attempt 2");
    assert_eq!(tries[2].get("error"), None, "{}", tries[2]);
    let gap = |i: usize| ms(&tries[i + 1]["startedAt"]) - ms(&tries[i]["endedAt"]);
    assert!(gap(0) >= 200, "the second attempt came {} ms after the first: {run:#}", gap(0));
    assert!(gap(1) >= 400, "the third attempt came {} ms after the second: {run:#}", gap(1));
    assert!(run["invocations"].as_u64().unwrap() >= 3, "each retry is an invocation: {run:#}");
    // Suspended from when the run was saved, a moment after the failure
    // its backoff counts from: each wait may count a millisecond or so short.
    assert!(run["suspendedMs"].as_u64().unwrap() >= 590, "{run:#}");

    let run = ended(&host, &store, &declined, "failed");
    assert_eq!(run["error"], "card declined", "a permanent error is not retried: {run:#}");
    let journal = steps(&run);
    assert_eq!((journal[0]["status"].as_str(), journal[0]["error"].as_str()), (Some("failed"), Some("card declined")));
    assert_eq!(journal[0]["output"], Value::Null);
    assert_eq!(attempts(&journal[0]).len(), 1, "{run:#}");
    assert_eq!(attempts(&journal[0])[0]["error"], "card declined");

    let run = ended(&host, &store, &exhausted, "failed");
    let message = run["error"].as_str().unwrap();
    assert!(message.contains("gateway timeout on attempt 2") && message.contains("2 attempts"), "{run:#}");
    let journal = steps(&run);
    assert_eq!(journal[0]["status"], "failed");
    assert_eq!(journal[0]["error"], message);
    assert_eq!(attempts(&journal[0]).len(), 2, "{run:#}");

    let progress = progress(&host);
    assert_eq!(count(&progress, "r:tries"), 1, "the failed attempts' writes were dropped: {progress}");
    assert_eq!((count(&progress, "p:tries"), count(&progress, "x:tries")), (0, 0), "{progress}");
    let attempts = r#"floww_run_step_attempts_total{workflow="runs",result="#;
    wait_for_metric(&host, &format!(r#"{attempts}"ok"}}"#), 1);
    wait_for_metric(&host, &format!(r#"{attempts}"retrying"}}"#), 3);
    wait_for_metric(&host, &format!(r#"{attempts}"failed"}}"#), 2);
}

/// Events sent before the run waits (it is still queued: its one run slot
/// is taken) and after, through the admin API and a workflow; a wait that
/// times out; and events that can't be delivered.
fn events_reach_a_run_before_and_after_it_waits_and_a_wait_times_out(store: Store) {
    // One run slot: a run that holds it keeps the next one queued.
    let host = Host::start_in(&store, &args(&["--max-concurrency", "2"])).unwrap();
    let blocker = start(&host, "steps", json!({"tag": "b", "steps": 1, "stepMs": 2500}));
    settle(&host, &store, &blocker, "running", Duration::from_secs(10));
    let early = start(&host, "approval", json!({"timeoutMs": 60_000}));
    assert_eq!(show(&host, &store, &early)["status"], "queued");
    let sent = answer(admin(&host, &store, "POST", &format!("/runs/{early}/events/approved")).body(r#"{"by":"ann"}"#));
    assert_eq!(sent.status, 202, "{}", sent.json);
    assert_eq!(sent.json, json!({"runId": early, "event": "approved", "delivered": true}));
    let run = show(&host, &store, &early);
    assert_eq!(run["status"], "queued", "the event came before the run waited: {run:#}");
    assert!(steps(&run).is_empty(), "{run:#}");

    let run = ended(&host, &store, &early, "completed");
    assert_eq!(run["output"], json!({"event": {"by": "ann"}}), "{run:#}");
    let journal = steps(&run);
    assert_eq!(journal.len(), 1, "{run:#}");
    assert_eq!((journal[0]["kind"].as_str(), journal[0]["name"].as_str()), (Some("event"), Some("approved")));
    assert_eq!(journal[0]["output"], json!({"by": "ann"}));

    // Waiting first, then the event, sent by the workflow.
    let late = start(&host, "approval", json!({"timeoutMs": 60_000}));
    let run = settle(&host, &store, &late, "waiting", Duration::from_secs(10));
    let pending = &steps(&run)[0];
    assert_eq!((pending["kind"].as_str(), pending["name"].as_str()), (Some("event"), Some("approved")), "{run:#}");
    assert!(ms(&pending["wakeAt"]) >= ms(&pending["startedAt"]) + 60_000, "the wait's timeout: {pending}");
    let (status, body) = host.post("/event", json!({"runId": late, "name": "approved", "payload": {"by": "bob"}}));
    assert_eq!(status, 202, "{body}");
    let run = ended(&host, &store, &late, "completed");
    assert_eq!(run["output"], json!({"event": {"by": "bob"}}), "{run:#}");
    assert_eq!(steps(&run)[0]["output"], json!({"by": "bob"}));

    let timed_out = start(&host, "approval", json!({"timeoutMs": 300}));
    let run = ended(&host, &store, &timed_out, "completed");
    assert_eq!(run["output"], json!({"event": null}), "{run:#}");
    let journal = steps(&run);
    assert_eq!((journal[0]["kind"].as_str(), &journal[0]["output"]), (Some("event"), &Value::Null), "{run:#}");
    assert!(ms(&journal[0]["endedAt"]) >= ms(&journal[0]["startedAt"]) + 300, "{run:#}");

    let event = |id: &str, name: &str, body: &str| {
        answer(admin(&host, &store, "POST", &format!("/runs/{id}/events/{name}")).body(body.to_owned()))
    };
    let refused = event(&early, "approved", "{}");
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert_eq!(error(&refused), format!("run {early} has ended (completed); it takes no more events"));
    let (status, body) = host.post("/event", json!({"runId": late, "name": "approved", "payload": 1}));
    assert_eq!((status, body["error"].as_str()), (409, Some(error(&refused).replace(&early, &late).as_str())));
    let unknown = event("no-such-run", "approved", "{}");
    assert_eq!((unknown.status, error(&unknown)), (404, "no run no-such-run"));
    let (status, body) = host.post("/event", json!({"runId": "no-such-run", "name": "approved", "payload": 1}));
    assert_eq!((status, body["error"].as_str()), (404, Some("no run no-such-run")));

    let waiting = start(&host, "approval", json!({"timeoutMs": 60_000}));
    let not_json = event(&waiting, "approved", "{not json");
    assert_eq!(not_json.status, 400, "{}", not_json.json);
    assert!(error(&not_json).starts_with("the payload is not JSON"), "{}", not_json.json);
    let big = format!("\"{}\"", "x".repeat(1 << 20));
    let too_large = event(&waiting, "approved", &big);
    assert_eq!(too_large.status, 413, "{}", too_large.json);
    assert_eq!(error(&too_large), format!("the payload is {} bytes of JSON; the most is 1048576", big.len()));
    let bad_name = event(&waiting, "no%20spaces", "{}");
    assert_eq!(bad_name.status, 400, "{}", bad_name.json);
    assert!(error(&bad_name).starts_with("event name \"no spaces\""), "{}", bad_name.json);
    let run = settle(&host, &store, &waiting, "waiting", Duration::from_secs(10));
    assert_eq!(steps(&run).len(), 1, "refused events are not delivered: {run:#}");
    ended(&host, &store, &blocker, "completed");
}

/// Events sent at once after each start reach the run in whatever state it
/// is then (queued, running, waiting): none is lost.
fn events_sent_right_after_starts_are_never_lost(store: Store) {
    let (host, store) = Host::start_on(store, &[RUNS]);
    let ids: Vec<String> = (0..30)
        .map(|n| {
            let id = start(&host, "approval", json!({"timeoutMs": 60_000}));
            let (status, body) = host.post("/event", json!({"runId": id, "name": "approved", "payload": n}));
            assert_eq!(status, 202, "{body}");
            id
        })
        .collect();
    for (n, id) in ids.iter().enumerate() {
        let run = ended(&host, &store, id, "completed");
        assert_eq!(run["output"], json!({"event": n}), "{run:#}");
    }
}

/// 50 concurrent starts with one idempotency key, half through the
/// workflow and half through the admin API: one run, which runs once.
fn concurrent_starts_with_one_key_make_one_run(store: Store) {
    let (host, store) = Host::start_on(store, &[RUNS]);
    let input = json!({"tag": "i", "steps": 2, "stepMs": 0});
    let token = token(store.path());
    let answers: Vec<(u16, Value, bool)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..50)
            .map(|n| {
                let (host, input, token) = (&host, &input, &token);
                scope.spawn(move || {
                    if n % 2 == 0 {
                        let (status, body) =
                            host.post("/start", json!({"name": "steps", "input": input, "key": "order-1"}));
                        (status, body, false)
                    } else {
                        let request = host
                            .request("POST", "/api/workflows/runs/runs/steps?key=order-1")
                            .bearer_auth(token)
                            .body(input.to_string());
                        let a = answer(request);
                        (a.status, a.json, true)
                    }
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let id = answers[0].1["runId"].as_str().unwrap().to_owned();
    for (status, body, admin) in &answers {
        assert_eq!(body["runId"], id.as_str(), "{answers:?}");
        match admin {
            false => assert_eq!(*status, 202, "{body}"),
            true => assert_eq!(body["started"], *status == 202, "{body}"),
        }
    }
    let started = answers.iter().filter(|(status, _, admin)| *admin && *status == 202).count();
    assert!(started <= 1, "{started} admin starts say they started the run: {answers:?}");

    let run = ended(&host, &store, &id, "completed");
    assert_eq!(run["idempotencyKey"], "order-1");
    let listed = answer(admin(&host, &store, "GET", "/runs?workflow=runs")).json;
    let ids: Vec<&str> = listed["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str()], "one run for the key: {listed:#}");
    assert_each_step_counted_once(&progress(&host), "i", 2);

    // The key is still held once the run has ended; it is per run function.
    let again = start_api(&host, &store, "steps", &input.to_string(), Some("order-1"));
    assert_eq!((again.status, &again.json), (200, &json!({"runId": id, "started": false})));
    let other = start_api(&host, &store, "fail", "null", Some("order-1"));
    assert_eq!((other.status, &other.json["started"]), (202, &json!(true)), "{}", other.json);
    assert_ne!(other.json["runId"], id.as_str());
    assert_each_step_counted_once(&progress(&host), "i", 2);
}

fn cancel_stops_a_run_for_good_and_rerun_runs_again_from_a_step(store: Store) {
    let (host, store) = Host::start_on(store, &[RUNS]);
    let cancel = |id: &str| answer(admin(&host, &store, "POST", &format!("/runs/{id}/cancel")));
    let rerun = |id: &str, query: &str| answer(admin(&host, &store, "POST", &format!("/runs/{id}/rerun{query}")));

    let sleeper = start(&host, "sleepy", json!({"tag": "c", "ms": 1000}));
    let run = settle(&host, &store, &sleeper, "sleeping", Duration::from_secs(10));
    let wake_at = ms(&steps(&run)[1]["wakeAt"]);
    let refused = rerun(&sleeper, "");
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert_eq!(
        error(&refused),
        format!("run {sleeper} is sleeping; only a run that has ended can run again (cancel it first)")
    );
    let cancelled = cancel(&sleeper);
    assert_eq!(cancelled.status, 200, "{}", cancelled.json);
    assert_eq!(
        (cancelled.json["id"].as_str(), cancelled.json["status"].as_str()),
        (Some(&*sleeper), Some("cancelled"))
    );
    assert_eq!(cancelled.json["error"], "cancelled");
    let again = cancel(&sleeper);
    assert_eq!(again.status, 409, "{}", again.json);
    assert_eq!(error(&again), format!("run {sleeper} has ended (cancelled); there is nothing to cancel"));
    // Past its wake time, it has not woken.
    std::thread::sleep(Duration::from_millis((wake_at + 700).saturating_sub(now_ms())));
    let run = show(&host, &store, &sleeper);
    assert_eq!(run["status"], "cancelled", "{run:#}");
    assert_eq!(run["dueAt"], Value::Null, "{run:#}");
    let names: Vec<&str> = steps(&run).iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["before"], "{run:#}");
    let progress_now = progress(&host);
    assert_eq!((count(&progress_now, "c:before"), count(&progress_now, "c:after")), (1, 0), "{progress_now}");

    // Rerun from the sleep on: `before` is kept, the run sleeps again and ends.
    let rerun_sleeper = rerun(&sleeper, "?fromStep=1");
    assert_eq!((rerun_sleeper.status, &rerun_sleeper.json["error"]), (202, &Value::Null), "{}", rerun_sleeper.json);
    let run = ended(&host, &store, &sleeper, "completed");
    let names: Vec<&str> = steps(&run).iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["before", "nap", "after"], "{run:#}");
    assert!(ms(&steps(&run)[1]["endedAt"]) >= ms(&rerun_sleeper.json["updatedAt"]) + 1000, "slept again: {run:#}");
    let progress_now = progress(&host);
    assert_eq!((count(&progress_now, "c:before"), count(&progress_now, "c:after")), (1, 1), "{progress_now}");

    // A run under way can't be rerun; cancelled in the middle of a step, it
    // keeps nothing of that step, and runs no further.
    let busy = start(&host, "steps", json!({"tag": "busy", "steps": 3, "stepMs": 1000}));
    settle(&host, &store, &busy, "running", Duration::from_secs(10));
    let refused = rerun(&busy, "?fromStep=0");
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert!(error(&refused).starts_with(&format!("run {busy} is running; ")), "{}", refused.json);
    let cancelled = cancel(&busy);
    assert_eq!((cancelled.status, &cancelled.json["status"]), (200, &json!("cancelled")), "{}", cancelled.json);
    let kept = steps(&show(&host, &store, &busy)).len();
    assert!(kept < 3, "{kept} steps");
    assert!(host.logged("cancelled or taken over meanwhile"), "{}", host.logs());
    let run = show(&host, &store, &busy);
    assert_eq!((run["status"].as_str(), steps(&run).len()), (Some("cancelled"), kept), "{run:#}");
    let progress_now = progress(&host);
    let counts: Vec<i64> = (0..3).map(|i| count(&progress_now, &format!("busy:{i}"))).collect();
    let want: Vec<i64> = (0..3).map(|i| i64::from(i < kept)).collect();
    assert_eq!(counts, want, "the step under way at the cancel kept no write: {progress_now}");
    assert_eq!(count(&progress_now, "busy:total"), kept as i64, "{progress_now}");

    // Rerun from step 2: steps 0 and 1 are kept, 2 and 3 run again.
    let id = start(&host, "steps", json!({"tag": "r", "steps": 4, "stepMs": 0}));
    let run = ended(&host, &store, &id, "completed");
    let first = execution(&steps(&run)[0]);
    let rerun_answer = rerun(&id, "?fromStep=2");
    assert_eq!(rerun_answer.status, 202, "{}", rerun_answer.json);
    assert_eq!(rerun_answer.json["status"], "queued", "{}", rerun_answer.json);
    let run = wait_for(Duration::from_secs(30), "the rerun to complete", || {
        let run = show(&host, &store, &id);
        (run["status"] == "completed" && run["invocations"].as_u64() == Some(2)).then_some(run)
    });
    assert_eq!(run["output"], json!({"done": 4}));
    let journal = steps(&run);
    assert_eq!(journal.len(), 4, "{run:#}");
    assert_eq!((execution(&journal[0]), execution(&journal[1])), (first.clone(), first.clone()), "kept: {run:#}");
    let second = execution(&journal[2]);
    assert_ne!(second, first, "{run:#}");
    assert_eq!(execution(&journal[3]), second, "{run:#}");
    let progress_now = progress(&host);
    let counts: Vec<i64> = (0..4).map(|i| count(&progress_now, &format!("r:{i}"))).collect();
    assert_eq!(counts, [1, 1, 2, 2], "{progress_now}");
    assert_eq!(count(&progress_now, "r:total"), 6, "{progress_now}");

    let missing = cancel("no-such-run");
    assert_eq!((missing.status, error(&missing)), (404, "no run no-such-run"));
    let missing = rerun("no-such-run", "");
    assert_eq!((missing.status, error(&missing)), (404, "no run no-such-run"));
    wait_for_metric(&host, r#"floww_runs_total{workflow="runs",status="cancelled"}"#, 2);
}

/// Code outside steps that takes another path on a replay (here: a KV read
/// changed during the sleep) fails the run as non-deterministic.
fn a_replay_that_meets_another_step_fails_the_run_as_not_deterministic(store: Store) {
    let (host, store) = Host::start_on(store, &[RUNS]);
    let id = start(&host, "fickle", json!({"ms": 1000}));
    settle(&host, &store, &id, "sleeping", Duration::from_secs(10));
    let (status, body) = host.post("/mode", json!({"mode": "b"}));
    assert_eq!(status, 200, "{body}");
    let run = ended(&host, &store, &id, "failed");
    let message = run["error"].as_str().unwrap();
    assert!(message.contains("not deterministic"), "{run:#}");
    assert!(message.contains("\"first-b\"") && message.contains("\"first-a\""), "names both steps: {message}");
    let names: Vec<&str> = steps(&run).iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["first-a"], "the replay stopped at step 0: {run:#}");
    assert_eq!(run["output"], Value::Null);
}

/// A run whose workflow is undeployed while it sleeps fails when it wakes,
/// saying why; new starts are refused.
fn a_sleeping_run_of_an_undeployed_workflow_fails_when_it_wakes(store: Store) {
    let (host, store) = Host::start_on(store, &[RUNS]);
    let id = start(&host, "sleepy", json!({"tag": "u", "ms": 500}));
    settle(&host, &store, &id, "sleeping", Duration::from_secs(10));
    let gone = answer(admin(&host, &store, "DELETE", "/workflows/runs"));
    assert_eq!(gone.status, 200, "{}", gone.json);
    let run = ended(&host, &store, &id, "failed");
    assert_eq!(run["error"], "workflow \"runs\" is not deployed or no longer declares run function \"sleepy\"");
    let refused = start_api(&host, &store, "sleepy", "{}", None);
    assert_eq!(refused.status, 404, "{}", refused.json);
}

fn starts_that_are_refused_say_why_and_runs_list_newest_first_by_page(store: Store) {
    let (host, store) = Host::start_on(store, &[RUNS]);
    let unknown = start_api(&host, &store, "nosuch", "{}", None);
    assert_eq!((unknown.status, error(&unknown)), (404, "workflow \"runs\" declares no run function \"nosuch\""));
    let (status, body) = host.post("/start", json!({"name": "nosuch", "input": {}}));
    assert_eq!((status, body["error"].as_str()), (404, Some("workflow \"runs\" declares no run function \"nosuch\"")));
    let not_json = start_api(&host, &store, "steps", "{\"tag\":", None);
    assert_eq!(not_json.status, 400, "{}", not_json.json);
    assert!(error(&not_json).starts_with("the input is not JSON"), "{}", not_json.json);
    let empty_key = start_api(&host, &store, "steps", "{}", Some(""));
    assert_eq!(empty_key.status, 400, "{}", empty_key.json);
    assert!(error(&empty_key).starts_with("idempotency key \"\" must be"), "{}", empty_key.json);
    let big = format!("\"{}\"", "x".repeat(1 << 20));
    let too_large = start_api(&host, &store, "steps", &big, None);
    assert_eq!(too_large.status, 413, "{}", too_large.json);
    assert_eq!(error(&too_large), format!("the input is {} bytes of JSON; the most is 1048576", big.len()));
    let no_workflow = answer(admin(&host, &store, "POST", "/workflows/nope/runs/steps").body("{}"));
    assert_eq!(no_workflow.status, 404, "{}", no_workflow.json);
    assert_eq!(error(&no_workflow), "no workflow \"nope\" is deployed");
    let missing = answer(admin(&host, &store, "GET", "/runs/no-such-run"));
    assert_eq!((missing.status, error(&missing)), (404, "no run no-such-run"));
    let listed = answer(admin(&host, &store, "GET", "/runs"));
    assert_eq!(listed.json, json!({"runs": [], "cursor": null}), "refused starts made no run");

    let ids: Vec<String> = (0..3).map(|_| start(&host, "fail", json!(null))).collect();
    for id in &ids {
        ended(&host, &store, id, "failed");
    }
    let mut newest_first = ids.clone();
    newest_first.sort();
    newest_first.reverse();
    let page = |query: &str| {
        let a = answer(admin(&host, &store, "GET", &format!("/runs?workflow=runs&status=failed&limit=2{query}")));
        assert_eq!(a.status, 200, "{}", a.json);
        let ids: Vec<String> =
            a.json["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().into()).collect();
        (ids, a.json["cursor"].clone())
    };
    let (first, cursor) = page("");
    assert_eq!(first, newest_first[..2], "ids sort by start: newest first");
    assert_eq!(cursor, first[1].as_str());
    let (second, cursor) = page(&format!("&cursor={}", first[1]));
    assert_eq!((second, cursor), (newest_first[2..].to_vec(), Value::Null));
    let none = answer(admin(&host, &store, "GET", "/runs?workflow=runs&status=completed"));
    assert_eq!(none.json["runs"], json!([]));
    let other = answer(admin(&host, &store, "GET", "/runs?workflow=other"));
    assert_eq!(other.json["runs"], json!([]));
    let bad = answer(admin(&host, &store, "GET", "/runs?status=done"));
    assert_eq!(bad.status, 400, "{}", bad.json);
    assert!(error(&bad).starts_with("status \"done\" is none of queued, running, "), "{}", bad.json);
    let bad = answer(admin(&host, &store, "GET", "/runs?limit=0"));
    assert_eq!((bad.status, error(&bad)), (400, "limit 0 is not between 1 and 1000"));
}

/// A run that loops or panics fails alone, inside a step after its
/// attempts (each cut at the deadline, or trapped), outside at once; the
/// host keeps serving meanwhile.
fn hostile_runs_fail_alone(store: Store) {
    // One second per invocation: a loop is cut then.
    let host = Host::start_in(&store, &args(&["--timeout", "1"])).expect("host starts");
    let spin_out = start(&host, "hostile", json!({"how": "spin", "inStep": false}));
    let spin_in = start(&host, "hostile", json!({"how": "spin", "inStep": true}));
    let panic_in = start(&host, "hostile", json!({"how": "panic", "inStep": true}));
    // Webhooks are served while the runs spin.
    assert_eq!(host.send("GET", "/webhook/progress", Vec::new()).0, 200);

    let run = ended(&host, &store, &spin_out, "failed");
    assert!(error_of(&run).contains("ran past its 1s deadline"), "{run:#}");
    let run = ended(&host, &store, &spin_in, "failed");
    let attempts = run["steps"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{run:#}");
    assert!(attempts.iter().all(|a| a["error"].as_str().unwrap().contains("ran past its 1s deadline")), "{run:#}");
    let run = ended(&host, &store, &panic_in, "failed");
    let attempts = run["steps"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{run:#}");
    assert!(attempts[0]["error"].as_str().unwrap().contains("the run function trapped"), "{run:#}");
    assert_eq!(host.send("GET", "/webhook/progress", Vec::new()).0, 200, "the host still serves");
}

/// `ctx.runs.get` from a handler: the run's status and steps as the admin
/// API has them; an unknown run is a 404 saying so.
fn a_handler_reads_a_runs_status_and_steps(store: Store) {
    let (host, store) = Host::start_on(store, &[RUNS]);
    let id = start(&host, "flaky", json!({"tag": "g", "failures": 1, "permanent": false, "attempts": 3}));
    ended(&host, &store, &id, "completed");
    let (status, run) = host.send("GET", &format!("/webhook/run?id={id}"), Vec::new());
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], json!({"attempt": 2}));
    assert_eq!(
        run["steps"],
        json!([{"kind": "step", "name": "charge", "status": "completed", "attempts": 2, "error": null}])
    );
    let (status, body) = host.send("GET", "/webhook/run?id=no-such-run", Vec::new());
    assert_eq!((status, body["error"].as_str()), (404, Some("no run no-such-run")));
}

/// A grant can't be staged: inside a step it is refused with a 400 that
/// says so, the step fails, and the write staged before it is dropped.
fn a_grant_inside_a_step_is_refused_and_the_step_keeps_nothing(store: Store) {
    let (host, store) = Host::start_on(store, &[RUNS]);
    let id = start(&host, "grant", json!(null));
    let run = ended(&host, &store, &id, "failed");
    let refusal = "grant-permission can't be part of a step (its effects can't be staged): call it outside the step";
    assert_eq!(error_of(&run), refusal, "{run:#}");
    assert_eq!(run["steps"][0]["error"], refusal, "{run:#}");
    let tables = answer(admin(&host, &store, "GET", "/kv/runs"));
    assert_eq!(tables.status, 200, "{}", tables.json);
    assert!(!tables.json.to_string().contains("shared"), "the staged write was kept: {}", tables.json);
}

fn error_of(run: &Value) -> &str {
    run["error"].as_str().unwrap_or_else(|| panic!("no error in {run:#}"))
}

on_each_store!(
    hostile_runs_fail_alone,
    a_handler_reads_a_runs_status_and_steps,
    a_grant_inside_a_step_is_refused_and_the_step_keeps_nothing,
    a_run_completes_its_steps_each_journaled_once_with_its_execution,
    a_run_killed_in_its_sleep_between_steps_resumes_at_its_time_after_a_restart,
    a_run_stopped_in_its_sleep_resumes_when_the_host_comes_back_after_its_wake_time,
    a_run_killed_during_a_step_runs_that_step_again_and_its_writes_count_once,
    a_run_stopped_during_a_step_completes_after_a_restart,
    retries_back_off_and_only_the_successful_attempt_writes,
    events_reach_a_run_before_and_after_it_waits_and_a_wait_times_out,
    events_sent_right_after_starts_are_never_lost,
    concurrent_starts_with_one_key_make_one_run,
    cancel_stops_a_run_for_good_and_rerun_runs_again_from_a_step,
    a_replay_that_meets_another_step_fails_the_run_as_not_deterministic,
    a_sleeping_run_of_an_undeployed_workflow_fails_when_it_wakes,
    starts_that_are_refused_say_why_and_runs_list_newest_first_by_page,
);

/// Two hosts on one database: the host that claimed a run dies in the
/// middle of a step; the other takes the run over once the lease has run
/// out, and finishes it without any step's writes counting twice.
#[test]
fn a_run_whose_host_dies_is_taken_over_by_another_host_once_its_lease_runs_out() {
    let a_store = Store::postgres();
    let a = Host::start_in(&a_store, &args(&TIMEOUT)).unwrap();
    let id = start(&a, "steps", json!({"tag": "t", "steps": 3, "stepMs": 800}));
    // The only host claims it; once step 0 is journaled, step 1 is under way.
    let journaled = wait_for(Duration::from_secs(10), "step 0 to be journaled", || {
        let run = show(&a, &a_store, &id);
        (!steps(&run).is_empty()).then_some(run)
    });
    let b_store = a_store.another_host();
    let b = Host::start_in(&b_store, &TIMEOUT.map(str::to_owned)).unwrap();
    let first = execution(&steps(&journaled)[0]);
    let created_at = ms(&journaled["createdAt"]);
    a.kill9();
    assert!(steps(&show(&b, &b_store, &id)).len() < 3, "the run was cut short");

    let run = settle(&b, &b_store, &id, "completed", Duration::from_millis(LEASE_MS + 30_000));
    let journal = steps(&run);
    assert_eq!(journal.len(), 3, "{run:#}");
    assert_eq!(execution(&journal[0]), first, "step 0 did not run again: {run:#}");
    let taken_over: Vec<&Value> = journal.iter().filter(|e| execution(e) != first).collect();
    assert!(!taken_over.is_empty(), "{run:#}");
    let resumed = execution(taken_over[0]);
    assert!(taken_over.iter().all(|e| execution(e) == resumed), "{run:#}");
    let resumed_at = ms(&attempts(taken_over[0])[0]["startedAt"]);
    assert!(
        resumed_at >= created_at + LEASE_MS,
        "taken over {} ms after the start, within the lease",
        resumed_at - created_at
    );
    assert_each_step_counted_once(&progress(&b), "t", 3);

    let record = wait_for(Duration::from_secs(10), "the execution record", || {
        let a = answer(admin(&b, &b_store, "GET", &format!("/executions/{resumed}")));
        (a.status == 200).then_some(a.json)
    });
    assert_eq!((record["run"].as_str(), record["trigger"].as_str()), (Some(&*id), Some("run steps")), "{record:#}");
    assert!(b.logged(&format!("run steps: completed workflow=runs execution={resumed}")), "{}", b.logs());
}

#[test]
fn runs_go_on_as_before_on_reused_instances() {
    let store = Store::sled();
    let host = Host::start_in(&store, &args(&["--instance-reuse", "100"])).expect("host starts");
    for tag in ["r1", "r2"] {
        let id = start(&host, "steps", json!({"tag": tag, "steps": 3, "stepMs": 0}));
        assert_eq!(ended(&host, &store, &id, "completed")["output"], json!({"done": 3}));
    }
    // A retry suspends the run (its instance traps and is dropped); the
    // next attempt runs on another instance and the run ends as before.
    let flaky = start(&host, "flaky", json!({"tag": "rf", "failures": 1, "permanent": false, "attempts": 3}));
    let run = ended(&host, &store, &flaky, "completed");
    assert_eq!(run["output"], json!({"attempt": 2}), "{run:#}");
    let progress = progress(&host);
    assert_each_step_counted_once(&progress, "r1", 3);
    assert_each_step_counted_once(&progress, "r2", 3);
    assert_eq!(count(&progress, "rf:tries"), 1, "only the attempt that succeeded kept its write: {progress}");
}
