//! Hostile guests next to a well-behaved one. Each test runs one kind of
//! attack while workflow `owner` (the KV probe) keeps a steady stream of
//! writes, reads and deletes going on its own table, checks every answer of
//! that stream as it comes, and afterwards checks that the host still serves,
//! stops cleanly, and that its store on disk holds exactly what `owner` wrote
//! (and, where the attacker writes at all, only what the attacker may write).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::{Host, StoredTable, answer, stored_tables};

const HOSTILE: (&str, &str) = ("hostile", "tests/guests/hostile");
const OWNER: (&str, &str) = ("owner", "tests/guests/probe-owner");

/// Every host here stops executions after 2 s and lets each use 256 MiB,
/// enough for the hostile guest to build its 100 MiB answer.
const FLAGS: [&str; 4] = ["--timeout", "2", "--memory-mib", "256"];

/// The well-behaved workflow's table.
const STREAM_TABLE: &str = "stream";

/// A stream that runs this many rounds has run far longer than any attack
/// here; it stops there so that no loop in a test is unbounded.
const MAX_ROUNDS: usize = 100_000;

/// What the well-behaved stream did while the attack ran.
struct Stream {
    /// Rounds completed in all; every answer in them was right.
    rounds: usize,
    /// Requests sent in all.
    requests: usize,
    /// Rounds that began after the attack started and ended before it ended.
    rounds_during_attack: usize,
    /// What table `stream` must hold now: key → value.
    expected: BTreeMap<String, Value>,
}

fn start() -> (Host, TempDir) {
    Host::start_with_flags(&[HOSTILE, OWNER], &FLAGS)
}

/// Runs one KV operation as `owner`.
fn owner(host: &Host, op: Value) -> (u16, Value) {
    host.post("/probe-owner", op)
}

/// How far the stream has got, as the attack sees it.
#[derive(Default)]
struct Progress {
    rounds: AtomicUsize,
    /// Set when the stream has stopped, for whatever reason.
    ended: AtomicBool,
}

/// Sets a flag when dropped, also while a panic unwinds.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `attack` while `owner` keeps working on table `stream`: each round
/// sets a new key and reads it back, every fourth round deletes the previous
/// key and sees it gone, every tenth lists the keys. Every answer is checked
/// at once (a wrong one fails the test). The stream has made one round before
/// the attack starts and goes on until it has ended (or failed). `attack` is
/// given the stream's progress, to see how far it got.
fn during_steady_stream<R>(host: &Host, attack: impl FnOnce(&Progress) -> R) -> (R, Stream) {
    let stop = AtomicBool::new(false);
    let progress = Progress::default();
    let (started_tx, started_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let stream = scope.spawn(|| {
            let _ended = SetOnDrop(&progress.ended);
            let mut expected = BTreeMap::new();
            let mut requests = 0;
            let mut round = 0;
            while round < MAX_ROUNDS && !(round > 0 && stop.load(Ordering::SeqCst)) {
                requests += stream_round(host, round, &mut expected);
                round += 1;
                progress.rounds.store(round, Ordering::SeqCst);
                if round == 1 {
                    started_tx.send(()).expect("the test waits for the first round");
                }
            }
            (round, requests, expected)
        });
        if started_rx.recv().is_err() {
            // The stream failed in its first round: show why.
            std::panic::resume_unwind(stream.join().expect_err("the stream ended before its first round"));
        }
        let before = progress.rounds.load(Ordering::SeqCst);
        let result = {
            // Stops the stream even if the attack's checks fail.
            let _stop = SetOnDrop(&stop);
            attack(&progress)
        };
        // The round under way when the attack ended may have begun before it: not counted.
        let during = progress.rounds.load(Ordering::SeqCst).saturating_sub(before + 1);
        let (rounds, requests, expected) = stream.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        assert!(rounds < MAX_ROUNDS, "the stream ran out of rounds before the attack ended");
        (result, Stream { rounds, requests, rounds_during_attack: during, expected })
    })
}

/// One round of the stream; returns how many requests it sent.
fn stream_round(host: &Host, round: usize, expected: &mut BTreeMap<String, Value>) -> usize {
    let key = format!("s-{round:05}");
    let value = json!({"round": round, "text": format!("steady {round}"), "list": [round, "x"]});
    let set = owner(host, json!({"op": "set", "table": STREAM_TABLE, "key": key, "value": value}));
    assert_eq!(set, (200, json!({"ok": null})), "round {round}: set {key}");
    expected.insert(key.clone(), value.clone());
    let got = owner(host, json!({"op": "get", "table": STREAM_TABLE, "key": key}));
    assert_eq!(got, (200, json!({"ok": value})), "round {round}: get {key}");
    let mut requests = 2;
    if round % 4 == 3 {
        let previous = format!("s-{:05}", round - 1);
        let deleted = owner(host, json!({"op": "delete", "table": STREAM_TABLE, "key": previous}));
        assert_eq!(deleted, (200, json!({"ok": null})), "round {round}: delete {previous}");
        expected.remove(&previous);
        let (status, body) = owner(host, json!({"op": "get", "table": STREAM_TABLE, "key": previous}));
        assert_eq!((status, &body["kind"]), (404, &json!("not-found")), "round {round}: get deleted {previous}");
        requests += 2;
    }
    if round % 10 == 9 {
        let keys: Vec<&String> = expected.keys().collect();
        let listed = owner(host, json!({"op": "list-keys", "table": STREAM_TABLE}));
        assert_eq!(listed, (200, json!({"ok": keys})), "round {round}: list-keys");
        requests += 1;
    }
    requests
}

/// After an attack: the host still answers `owner` with exactly what it
/// wrote, the attacker owns exactly `attacker_tables`, the host stops cleanly
/// on SIGTERM, and the store on disk holds table `stream` with exactly the
/// stream's data and no grants. Returns the other tables on disk.
fn assert_intact(
    host: Host,
    data: &TempDir,
    stream: &Stream,
    attacker_tables: &[&str],
) -> BTreeMap<String, StoredTable> {
    println!(
        "stream: {} rounds, {} requests, {} rounds while the attack ran",
        stream.rounds, stream.requests, stream.rounds_during_attack
    );
    assert!(stream.rounds_during_attack >= 1, "the stream made no round while the attack ran");
    let (status, body) = owner(&host, json!({"op": "list-items", "table": STREAM_TABLE}));
    assert_eq!(status, 200, "{body}");
    let items: BTreeMap<String, Value> = body["ok"]
        .as_array()
        .expect("a list of items")
        .iter()
        .map(|item| (item["key"].as_str().expect("a key").to_owned(), item["value"].clone()))
        .collect();
    assert_eq!(items, stream.expected, "table stream as the host serves it after the attack");
    let (status, body) = owner(&host, json!({"op": "list-tables"}));
    assert_eq!((status, body), (200, json!({"ok": [STREAM_TABLE]})));
    let tables = answer(host.request("GET", "/webhook/hostile/tables"));
    assert_eq!((tables.status, tables.json), (200, json!({"tables": attacker_tables})));

    host.stop();
    let mut stored = stored_tables(data.path());
    let table = stored.remove(STREAM_TABLE).expect("table stream is on disk");
    assert_eq!((table.owner.as_str(), table.grants.as_slice()), ("owner", &[][..]), "owner and grants of stream");
    let on_disk: BTreeMap<String, Value> = table
        .items
        .iter()
        .map(|(key, text)| (key.clone(), serde_json::from_str(text).expect("stored values are JSON")))
        .collect();
    assert_eq!(on_disk, stream.expected, "table stream on disk");
    let others: Vec<(&str, &str)> = stored.iter().map(|(name, table)| (name.as_str(), table.owner.as_str())).collect();
    let want: Vec<(&str, &str)> = attacker_tables.iter().map(|&table| (table, "hostile")).collect();
    assert_eq!(others, want, "no other table on disk");
    stored
}

/// Rounds the stream makes under a quick attack, which is repeated until then.
const ROUNDS_UNDER_ATTACK: usize = 20;
/// A quick attack is repeated for at most this long: on a loaded machine the
/// stream's rounds (each an acknowledged write) can be slow to come.
const MAX_ATTACK_TIME: std::time::Duration = std::time::Duration::from_secs(60);

/// Repeats a quick `attack` until the stream has made [`ROUNDS_UNDER_ATTACK`]
/// rounds since the first one began (or has stopped), or for
/// [`MAX_ATTACK_TIME`]; returns how many attacks were sent.
fn repeat_attack(progress: &Progress, mut attack: impl FnMut()) -> usize {
    let until = progress.rounds.load(Ordering::SeqCst) + 1 + ROUNDS_UNDER_ATTACK;
    let started = std::time::Instant::now();
    let mut sent = 0;
    while started.elapsed() < MAX_ATTACK_TIME
        && progress.rounds.load(Ordering::SeqCst) < until
        && !progress.ended.load(Ordering::SeqCst)
    {
        attack();
        sent += 1;
    }
    sent
}

/// Sends `path` to the hostile guest again and again while the stream runs
/// (see [`repeat_attack`]) and checks each answer is a 500 that says the
/// workflow failed, with an execution id and no internals.
fn expect_traps(host: &Host, progress: &Progress, path: &str) -> usize {
    repeat_attack(progress, || {
        let (status, body) = host.post(path, json!({}));
        assert_eq!(status, 500, "{path}: {body}");
        let execution = body["executionId"].as_str().unwrap_or_default();
        assert_eq!(execution.len(), 36, "{path}: {body}");
        assert_eq!(
            body["error"].as_str().unwrap_or_default(),
            format!(
                "workflow \"hostile\" failed (trapped); its record has the details: `floww logs hostile`, or GET /api/executions/{execution}"
            ),
            "{path}"
        );
        assert!(!body.to_string().contains("wasm"), "no internals leak: {body}");
    })
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline_while_another_workflow_keeps_working() {
    let (host, data) = start();
    let ((status, body), stream) = during_steady_stream(&host, |_| host.post("/hostile/loop", json!({})));
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "workflow \"hostile\" timed out: it ran past its 2s limit and was stopped");
    assert_eq!(body["executionId"].as_str().map(str::len), Some(36), "{body}");
    // The loop can't end before its 2 s deadline, and a round takes a few ms:
    // a stream that made no round in that time was kept waiting by the loop.
    assert!(stream.rounds_during_attack > 0, "the well-behaved workflow was served while the loop ran");
    assert_intact(host, &data, &stream, &[]);
}

/// Executions share the host's few async workers, so a looping guest must
/// yield: more loops at once than the machine has cores still leave room for
/// another workflow.
#[test]
fn more_endless_loops_than_cores_still_leave_room_for_another_workflow() {
    let (host, data) = start();
    let loops = std::thread::available_parallelism().map_or(2, usize::from) * 2;
    let (answers, stream) = during_steady_stream(&host, |_| {
        std::thread::scope(|scope| {
            let posts: Vec<_> = (0..loops).map(|_| scope.spawn(|| host.post("/hostile/loop", json!({})))).collect();
            posts.into_iter().map(|post| post.join().expect("a loop's caller")).collect::<Vec<_>>()
        })
    });
    for (status, body) in answers {
        assert_eq!(status, 504, "{body}");
        assert_eq!(body["error"], "workflow \"hostile\" timed out: it ran past its 2s limit and was stopped");
    }
    assert!(stream.rounds_during_attack > 0, "the well-behaved workflow was served while {loops} loops ran");
    assert_intact(host, &data, &stream, &[]);
}

#[test]
fn deep_recursion_traps_alone_while_another_workflow_keeps_working() {
    let (host, data) = start();
    let (attacks, stream) = during_steady_stream(&host, |progress| expect_traps(&host, progress, "/hostile/recurse"));
    println!("{attacks} attacks");
    assert_intact(host, &data, &stream, &[]);
}

#[test]
fn a_panic_traps_alone_while_another_workflow_keeps_working() {
    let (host, data) = start();
    let (attacks, stream) = during_steady_stream(&host, |progress| expect_traps(&host, progress, "/hostile/panic"));
    println!("{attacks} attacks");
    assert_intact(host, &data, &stream, &[]);
}

#[test]
fn unreachable_traps_alone_while_another_workflow_keeps_working() {
    let (host, data) = start();
    let (attacks, stream) =
        during_steady_stream(&host, |progress| expect_traps(&host, progress, "/hostile/unreachable"));
    println!("{attacks} attacks");
    assert_intact(host, &data, &stream, &[]);
}

#[test]
fn a_memory_bomb_fails_at_the_cap_while_another_workflow_keeps_working() {
    let (host, data) = start();
    let (attacks, stream) = during_steady_stream(&host, |progress| expect_traps(&host, progress, "/hostile/memory"));
    println!("{attacks} attacks");
    assert_intact(host, &data, &stream, &[]);
}

#[test]
fn a_100_mib_response_is_refused_with_500_naming_the_limit() {
    let (host, data) = start();
    let (attacks, stream) = during_steady_stream(&host, |progress| {
        repeat_attack(progress, || {
            let (status, body) = host.post("/hostile/huge-response", json!({}));
            assert_eq!(status, 500, "{body}");
            assert_eq!(
                body["error"],
                "workflow \"hostile\" returned an invalid response: its body is 104857600 bytes; \
                 the limit is 10485760 bytes"
            );
            assert_eq!(body["executionId"].as_str().map(str::len), Some(36), "{body}");
        })
    });
    println!("{attacks} attacks");
    assert_intact(host, &data, &stream, &[]);
}

#[test]
fn a_kv_write_storm_completes_or_is_stopped_and_leaves_other_data_intact() {
    const KEYS: usize = 10;
    const WRITES: usize = 1000;
    const VALUE_BYTES: usize = (1 << 20) - 16;
    let (host, data) = start();
    let ((status, body), stream) = during_steady_stream(&host, |_| host.post("/hostile/kv-storm", json!({})));
    println!("the storm ended with {status}");
    match status {
        200 => assert_eq!(body, json!({"writes": WRITES})),
        504 => assert_eq!(body["error"], "workflow \"hostile\" timed out: it ran past its 2s limit and was stopped"),
        _ => panic!("the storm neither completed nor was stopped: {status} {body}"),
    }
    let stored = assert_intact(host, &data, &stream, &["storm"]);

    // The storm's own table holds only its keys, each with a whole value
    // from one of its writes to that key.
    let storm = &stored["storm"];
    assert!(storm.grants.is_empty(), "{:?}", storm.grants);
    assert!(!storm.items.is_empty(), "the storm wrote before it was stopped");
    for (key, text) in &storm.items {
        let slot: usize = key.strip_prefix("storm-").and_then(|n| n.parse().ok()).expect("a storm key");
        assert!(slot < KEYS, "{key}");
        assert_eq!(text.len(), VALUE_BYTES, "{key} holds a whole value");
        let write: usize = text[1..9].parse().expect("the write's number");
        assert!(write < WRITES && write % KEYS == slot, "{key} holds write {write}");
        let (head, tail) = (&text[..1], &text[9..]);
        assert!(head == "\"" && tail.ends_with('"') && tail[..tail.len() - 1].bytes().all(|b| b == b'x'), "{key}");
    }
    if status == 200 {
        assert_eq!(storm.items.len(), KEYS, "a completed storm wrote every key");
    }
}

#[test]
fn escape_attempts_reach_no_file_env_or_socket_while_another_workflow_keeps_working() {
    const ATTEMPTS: [&str; 11] = [
        "readFile",
        "readRelative",
        "readDir",
        "writeFile",
        "createDir",
        "home",
        "path",
        "tcp",
        "listen",
        "udp",
        "resolve",
    ];
    let (host, data) = start();
    // The network attempts aim at the host's own port, which does listen.
    let port = host.port();
    let (attacks, stream) = during_steady_stream(&host, |progress| {
        repeat_attack(progress, || {
            let (status, body) = host.post("/hostile/escape", json!({"port": port}));
            assert_eq!(status, 200, "{body}");
            for attempt in ATTEMPTS {
                let outcome = body[attempt].as_str().unwrap_or_else(|| panic!("{attempt} missing: {body}"));
                assert!(outcome.starts_with("error: "), "{attempt} got through: {body}");
            }
            assert_eq!((&body["env"], &body["args"]), (&json!([]), &json!([])), "{body}");
        })
    });
    println!("{attacks} attacks");
    assert_intact(host, &data, &stream, &[]);
}

#[test]
fn a_guest_cannot_read_change_or_regrant_a_table_it_was_not_given() {
    let (host, data) = start();
    let (attacks, stream) = during_steady_stream(&host, |progress| {
        repeat_attack(progress, || {
            // s-00000 is written in the stream's first round and never deleted.
            let steal = json!({"table": STREAM_TABLE, "key": "s-00000", "owner": "owner"});
            let (status, body) = host.post("/hostile/steal", steal);
            assert_eq!(status, 200, "{body}");
            let attempts = body["attempts"].as_object().expect("attempts");
            assert_eq!(attempts.len(), 9, "{body}");
            for (op, outcome) in attempts {
                assert_eq!(outcome, "permission-denied", "{op}: {body}");
            }
            assert_eq!(body["tables"], json!([]), "{body}");
        })
    });
    println!("{attacks} attacks");
    assert_intact(host, &data, &stream, &[]);
}

#[test]
fn every_execution_starts_from_a_fresh_instance_even_after_a_trap() {
    let (host, _data) = start();
    for secret in ["first secret", "second secret"] {
        let (status, body) = host.send("POST", "/webhook/hostile/remember", secret.as_bytes().to_vec());
        assert_eq!((status, body), (200, json!({"executionsSeen": 1, "leftBehind": null})), "{secret}");
        let (status, _) = host.post("/hostile/panic", json!({}));
        assert_eq!(status, 500);
    }
}

#[test]
fn a_flood_of_endless_loops_gets_503_with_retry_after_then_service_resumes() {
    const CALLERS: usize = 5;
    let (host, data) =
        Host::start_with_flags(&[HOSTILE, OWNER], &["--max-concurrency", "1", "--max-queue", "1", "--timeout", "2"]);
    let answers: Vec<_> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| scope.spawn(|| answer(host.request("POST", "/webhook/hostile/loop").body("{}"))))
            .collect();
        callers.into_iter().map(|caller| caller.join().expect("caller thread")).collect()
    });
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for a in &answers {
        *by_status.entry(a.status).or_default() += 1;
        match a.status {
            503 => {
                assert_eq!(a.headers.get("retry-after").map(|v| v.as_bytes()), Some(&b"1"[..]), "{}", a.json);
                let error = a.json["error"].as_str().expect("an error message");
                assert!(error.contains("at capacity"), "{error}");
                assert!(error.contains("1 executions running"), "{error}");
            }
            504 => {
                assert_eq!(a.json["error"], "workflow \"hostile\" timed out: it ran past its 2s limit and was stopped")
            }
            other => panic!("a looping caller got {other}: {}", a.json),
        }
    }
    // One slot and one place in the queue: at most two loops are admitted at
    // a time, so of five callers sent at once some are turned away.
    assert!(by_status.get(&503).is_some_and(|&n| n >= 1), "{by_status:?}");
    assert!(by_status.get(&504).is_some_and(|&n| n >= 1), "{by_status:?}");

    // Every loop has been answered, so the slot is free again.
    let set = owner(&host, json!({"op": "set", "table": "after", "key": "k", "value": 1}));
    assert_eq!(set, (200, json!({"ok": null})));
    let got = owner(&host, json!({"op": "get", "table": "after", "key": "k"}));
    assert_eq!(got, (200, json!({"ok": 1})));
    host.stop();
    assert_eq!(stored_tables(data.path()).keys().collect::<Vec<_>>(), ["after"]);
}

/// The deadline is wall-clock time: a guest asleep in a host call, one that
/// naps forever, and more CPU loops than cores all get their 504 within a
/// second of `--timeout`, all at once.
#[test]
fn sleepers_nappers_and_crowded_loops_are_stopped_within_a_second_of_the_deadline() {
    let (host, _data) = start();
    let loops = std::thread::available_parallelism().map_or(2, usize::from) * 2;
    let paths = [vec!["/hostile/sleep"; 2], vec!["/hostile/naps"; 2], vec!["/hostile/loop"; loops]].concat();
    let answers = std::thread::scope(|scope| {
        let posts: Vec<_> = paths
            .iter()
            .map(|path| {
                let host = &host;
                scope.spawn(move || {
                    let started = Instant::now();
                    let (status, body) = host.post(path, json!({}));
                    (path, status, body, started.elapsed())
                })
            })
            .collect();
        posts.into_iter().map(|post| post.join().expect("a caller")).collect::<Vec<_>>()
    });
    for (path, status, body, took) in answers {
        assert_eq!(status, 504, "{path}: {body}");
        assert_eq!(body["error"], "workflow \"hostile\" timed out: it ran past its 2s limit and was stopped");
        assert!(took < Duration::from_secs(3), "{path} answered after {took:?}, over a second past its 2 s deadline");
    }
    let set = owner(&host, json!({"op": "set", "table": "after", "key": "k", "value": 1}));
    assert_eq!(set, (200, json!({"ok": null})));
}

/// A graceful stop waits for the executions under way, but none runs past
/// its deadline: SIGTERM during a minute-long sleep ends the host within a
/// second of the sleeper's 2 s deadline, and the sleeper's caller gets its 504.
#[test]
fn a_graceful_stop_waits_no_longer_than_the_deadline_of_a_sleeper() {
    let (host, _data) = start();
    let url = format!("{}/webhook/hostile/sleep", host.url);
    let started = Instant::now();
    let sleeper = std::thread::spawn(move || answer(reqwest::blocking::Client::new().post(url).body("{}")));
    while !host.request("GET", "/metrics").send().unwrap().text().unwrap().contains("floww_executions_running 1") {
        std::thread::sleep(Duration::from_millis(20));
    }
    host.stop();
    assert!(started.elapsed() < Duration::from_secs(3), "stopped after {:?}", started.elapsed());
    let a = sleeper.join().expect("the sleeper's caller");
    assert_eq!(a.status, 504, "{}", a.json);
}
