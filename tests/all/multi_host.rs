//! Several hosts on one PostgreSQL store, as behind a load balancer: data
//! written through one is read through another, increments through both add
//! up, a deploy or undeploy through one reaches the other, a cron tick fires
//! once across both, and a database that goes away makes KV calls fail with
//! 503 until it is back.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::admin::api;
use crate::harness::{Host, Store, answer, guest};
use crate::permissions::kv;

const OWNER: (&str, &str) = ("owner", "tests/guests/probe-owner");

/// Polls `done` every 20 ms until it holds; fails after `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// Two hosts on one database; the first deploys `workflows`, the second
/// serves them because they are in the database.
fn two_hosts(workflows: &[(&str, &str)]) -> (Host, Host, Store, Store) {
    let (a, a_store) = Host::start_on(Store::postgres(), workflows);
    let b_store = a_store.another_host();
    let b = Host::start_in(&b_store, &[]).expect("second host starts");
    (a, b, a_store, b_store)
}

#[test]
fn a_write_through_one_host_is_read_through_the_other() {
    let (a, b, _a_store, _b_store) = two_hosts(&[OWNER]);
    let (status, body) = kv(&a, "owner", json!({"op": "set", "table": "t", "key": "k", "value": {"n": 1}}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(kv(&b, "owner", json!({"op": "get", "table": "t", "key": "k"})).1["ok"], json!({"n": 1}));
    kv(&b, "owner", json!({"op": "delete", "table": "t", "key": "k"}));
    let (status, body) = kv(&a, "owner", json!({"op": "get", "table": "t", "key": "k"}));
    assert_eq!((status, body["kind"].as_str()), (404, Some("not-found")));
}

#[test]
fn counter_requests_through_both_hosts_add_up_exactly() {
    let (a, b, _a_store, _b_store) = two_hosts(&[("kv-store", "examples/kv-store")]);
    let (a, b) = (Arc::new(a), Arc::new(b));
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let host = if i % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || (0..25).map(|_| host.post("/counter", json!({}))).collect::<Vec<_>>())
        })
        .collect();
    let answers: Vec<(u16, Value)> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let mut seen: Vec<i64> = answers.iter().map(|(_, body)| body["value"].as_i64().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, (1..=200).collect::<Vec<_>>(), "every increment saw its own count");
}

#[test]
fn a_deploy_and_an_undeploy_through_one_host_reach_the_other() {
    let (a, b, a_store, _b_store) = two_hosts(&[]);
    let bytes = std::fs::read(guest("tests/guests/probe-owner")).unwrap();
    let deployed = answer(api(&a, a_store.path(), "PUT", "/workflows/owner").body(bytes));
    assert_eq!(deployed.status, 201, "{}", deployed.json);
    let get = json!({"op": "get", "table": "t", "key": "k"});
    wait_until(Duration::from_secs(10), "the deploy to reach the second host", || {
        kv(&b, "owner", get.clone()).0 == 404
    });
    assert!(b.logged("deployed through another host"), "{}", b.logs());

    assert_eq!(answer(api(&a, a_store.path(), "DELETE", "/workflows/owner")).status, 200);
    let gone = || b.send("POST", "/webhook/probe-owner", get.to_string().into_bytes()).0 == 404;
    wait_until(Duration::from_secs(10), "the undeploy to reach the second host", gone);
    let (_, body) = b.send("POST", "/webhook/probe-owner", get.to_string().into_bytes());
    assert_eq!(body["error"], "no webhook answers POST /webhook/probe-owner", "{body}");
}

#[test]
fn a_route_taken_on_one_host_is_refused_through_the_other() {
    let (_a, b, _a_store, b_store) = two_hosts(&[("kv-store", "examples/kv-store")]);
    let bytes = std::fs::read(guest("tests/guests/path-clash")).unwrap();
    let refused = answer(api(&b, b_store.path(), "PUT", "/workflows/clash").body(bytes));
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert!(
        refused.json["error"].as_str().unwrap().contains("already served by workflow \"kv-store\""),
        "{}",
        refused.json
    );
}

#[test]
fn a_cron_tick_fires_once_across_both_hosts() {
    let (a, b, a_store, _b_store) = two_hosts(&[("cron-probe", "tests/guests/cron-probe")]);
    std::thread::sleep(Duration::from_millis(4500));
    a.stop();
    b.stop();
    let tables = a_store.tables();
    let ticks = &tables["ticks"].items;
    for (tick, count) in ticks {
        assert_eq!(count, "1", "tick {tick} ran {count} times");
    }
    let total: usize = tables["runs"].items["count"].parse().unwrap();
    assert_eq!(total, ticks.len(), "one run per tick");
    // 4 or 5 ticks fall in 4.5 s; twice that would be each host firing each tick.
    assert!((3..=6).contains(&total), "{total} runs in 4.5 s");
}

#[test]
fn executions_through_one_host_are_listed_by_the_other() {
    let (a, b, _a_store, b_store) = two_hosts(&[OWNER]);
    let response = a.request("POST", "/webhook/probe-owner").body(json!({"op": "list-tables"}).to_string());
    let id = answer(response).headers["x-floww-execution-id"].to_str().unwrap().to_owned();
    let record = || answer(api(&b, b_store.path(), "GET", &format!("/executions/{id}")));
    wait_until(Duration::from_secs(10), "the record to be written", || record().status == 200);
    let record = record().json;
    assert_eq!((record["workflow"].as_str(), record["status"].as_str()), (Some("owner"), Some("completed")));
}

/// A TCP proxy in front of PostgreSQL that can cut every connection and
/// refuse new ones, as a database that went away would.
struct Proxy {
    port: u16,
    state: Arc<Mutex<ProxyState>>,
}

#[derive(Default)]
struct ProxyState {
    down: bool,
    open: Vec<TcpStream>,
}

impl Proxy {
    fn to(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let mut state = shared.lock().unwrap();
                if state.down {
                    continue; // dropped: the connection closes at once
                }
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                for (mut from, mut to) in
                    [(client.try_clone(), server.try_clone()), (server.try_clone(), client.try_clone())]
                        .map(|(f, t)| (f.unwrap(), t.unwrap()))
                {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n @ 1..) = from.read(&mut buf) {
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
                state.open.extend([client, server]);
            }
        });
        Proxy { port, state }
    }

    fn cut(&self) {
        let mut state = self.state.lock().unwrap();
        state.down = true;
        state.open.drain(..).for_each(|s| drop(s.shutdown(Shutdown::Both)));
    }

    fn restore(&self) {
        self.state.lock().unwrap().down = false;
    }
}

#[test]
fn a_host_cut_off_from_the_database_answers_503_then_catches_up_when_it_returns() {
    // Host `a` reaches the database directly, host `b` through a proxy that
    // the test cuts: only `b` loses the database.
    let (a, a_store) = Host::start_on(Store::postgres(), &[OWNER]);
    let b_store = a_store.another_host();
    let url = b_store.url().unwrap();
    let (rest, database) = url.rsplit_once('/').unwrap();
    let upstream = rest.rsplit_once('@').map_or(rest, |(_, at)| at).trim_start_matches("postgres://").to_owned();
    let proxy = Proxy::to(upstream.clone());
    let via_proxy = url.replace(&format!("{upstream}/{database}"), &format!("127.0.0.1:{}/{database}", proxy.port));
    let b = Host::start_with(b_store.path(), &["--store".to_owned(), via_proxy]).unwrap();
    let set = json!({"op": "set", "table": "t", "key": "k", "value": 1});
    assert_eq!(kv(&b, "owner", set.clone()).0, 200);

    proxy.cut();
    let (status, body) = kv(&b, "owner", json!({"op": "get", "table": "t", "key": "k"}));
    assert_eq!((status, body["kind"].as_str()), (503, Some("unavailable")), "{body}");
    assert_eq!(body["error"], "the KV store is unavailable; retry later");
    let operator = answer(api(&b, b_store.path(), "GET", "/kv/owner/t/k"));
    assert_eq!(operator.status, 503, "{}", operator.json);
    assert!(operator.json["error"].as_str().unwrap().starts_with("the store is unavailable: "), "{}", operator.json);
    assert!(b.logged("KV store unavailable"), "{}", b.logs());
    let bytes = std::fs::read(guest("tests/guests/probe-writer")).unwrap();
    let refused = answer(api(&b, b_store.path(), "PUT", "/workflows/writer").body(bytes));
    assert_eq!(refused.status, 503, "{}", refused.json);
    let message = refused.json["error"].as_str().unwrap();
    assert!(message.starts_with("could not store the workflow: the store is unavailable: "), "{message}");
    let refused = answer(api(&b, b_store.path(), "DELETE", "/workflows/owner"));
    assert_eq!(refused.status, 503, "{}", refused.json);
    let message = refused.json["error"].as_str().unwrap();
    assert!(message.starts_with("could not remove the workflow: the store is unavailable: "), "{message}");
    // Meanwhile a deploy through the other host: `b` misses its notification.
    let bytes = std::fs::read(guest("tests/guests/probe-reader")).unwrap();
    assert_eq!(answer(api(&a, a_store.path(), "PUT", "/workflows/reader").body(bytes)).status, 201);

    proxy.restore();
    wait_until(Duration::from_secs(20), "b to reconnect", || kv(&b, "owner", set.clone()).0 == 200);
    assert_eq!(kv(&b, "owner", json!({"op": "get", "table": "t", "key": "k"})).1["ok"], 1);
    let missed = json!({"op": "list-tables"});
    wait_until(Duration::from_secs(20), "b to catch up on the missed deploy", || {
        kv(&b, "reader", missed.clone()).0 == 200
    });
    assert!(b.logged("lost the deployments channel"), "{}", b.logs());
}
