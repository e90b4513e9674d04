//! Acknowledged writes survive `kill -9`: writers record every write the
//! host acknowledged, the host is killed at random moments, restarted on the
//! same store, and every acknowledged write must be there: on sled, and on
//! PostgreSQL, where the host's killed connections must not lose a commit.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::harness::{Host, Store, deploys, on_each_store};

const WRITERS: usize = 4;
const CYCLES: usize = 10;

/// A random number of milliseconds in `range`, without a dependency.
fn random_ms(range: std::ops::Range<u64>) -> u64 {
    range.start + RandomState::new().hash_one(std::time::Instant::now()) % (range.end - range.start)
}

fn acknowledged_writes_survive_sigkill_at_random_moments(store: Store) {
    let mut args = deploys(&[("owner", "tests/guests/probe-owner")]);
    // Values each writer has seen acknowledged, carried across cycles.
    let mut acked = [0i64; WRITERS];
    for cycle in 0..CYCLES {
        let host = Host::start_in(&store, &args).unwrap();
        args.clear();
        // After a restart every acknowledged value is there, or the one a
        // write in flight at the kill left behind.
        for (writer, acked) in acked.iter_mut().enumerate() {
            let value = *acked;
            let (status, body) =
                host.post("/probe-owner", json!({"op": "get", "table": "t", "key": format!("w{writer}")}));
            let stored = if status == 404 { 0 } else { body["ok"].as_i64().unwrap() };
            assert!(
                stored == value || stored == value + 1,
                "cycle {cycle}: writer {writer} acked {value}, found {stored}"
            );
            *acked = stored;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (url, stop, start) = (host.url.clone(), stop.clone(), acked[writer]);
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    let mut last = start;
                    while !stop.load(Ordering::SeqCst) {
                        let body = json!({"op": "set", "table": "t", "key": format!("w{writer}"), "value": last + 1});
                        match client.post(format!("{url}/webhook/probe-owner")).body(body.to_string()).send() {
                            Ok(r) if r.status() == 200 => last += 1,
                            _ => break,
                        }
                    }
                    last
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(random_ms(50..400)));
        host.kill9();
        stop.store(true, Ordering::SeqCst);
        for (writer, thread) in writers.into_iter().enumerate() {
            acked[writer] = thread.join().unwrap();
        }
    }
    assert!(acked.iter().sum::<i64>() > 0, "the writers wrote: {acked:?}");
}

on_each_store!(acknowledged_writes_survive_sigkill_at_random_moments,);
