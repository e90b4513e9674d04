//! KV beyond the seed, through real guests: atomic increments, versions and
//! compare-and-swap, time-to-live, paged listings and atomic batches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::admin::api;
use crate::harness::{Host, Store, answer, on_each_store};
use crate::permissions::kv;

const PROBE: [(&str, &str); 1] = [("owner", "tests/guests/probe-owner")];

/// Runs `n` requests from each of `threads` threads at once; returns every answer.
fn concurrently(host: &Arc<Host>, threads: usize, n: usize, path: &str, body: Value) -> Vec<(u16, Value)> {
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (host, path, body) = (host.clone(), path.to_owned(), body.clone());
            std::thread::spawn(move || (0..n).map(|_| host.post(&path, body.clone())).collect::<Vec<_>>())
        })
        .collect();
    workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
}

fn two_hundred_concurrent_counter_requests_add_exactly_two_hundred(store: Store) {
    let (host, data) = Host::start_on(store, &[("kv-store", "examples/kv-store")]);
    let host = Arc::new(host);
    let answers = concurrently(&host, 8, 25, "/counter", json!({}));
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let stored = answer(api(&host, data.path(), "GET", "/kv/kv-store/counters/page-views"));
    assert_eq!(stored.json["value"], 200);
    // Every answer saw a different count: no two increments overlapped.
    let mut seen: Vec<i64> = answers.iter().map(|(_, body)| body["value"].as_i64().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, (1..=200).collect::<Vec<_>>());
}

fn compare_and_swap_writers_with_retries_lose_no_update(store: Store) {
    let (host, _data) = Host::start_on(store, &PROBE);
    let host = Arc::new(host);
    let answers =
        concurrently(&host, 8, 20, "/probe-owner", json!({"op": "cas-add", "table": "t", "key": "n", "delta": 1}));
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let (_, body) = kv(&host, "owner", json!({"op": "get", "table": "t", "key": "n"}));
    assert_eq!(body["ok"], 160);
}

fn versions_guard_set_if(store: Store) {
    let (host, _data) = Host::start_on(store, &PROBE);
    let set_if = |expected: Value| {
        kv(
            &host,
            "owner",
            json!({"op": "set-if", "table": "t", "key": "k", "value": {"v": 1}, "expectedVersion": expected}),
        )
    };
    let (status, body) = set_if(Value::Null);
    assert_eq!(status, 200, "{body}");
    let v1 = body["ok"].as_u64().unwrap();
    let (status, body) = set_if(Value::Null);
    assert_eq!((status, body["kind"].as_str()), (409, Some("conflict")));
    assert!(body["error"].as_str().unwrap().contains(&format!("exists (version {v1}); expected it absent")), "{body}");
    let (_, item) = kv(&host, "owner", json!({"op": "get-item", "table": "t", "key": "k"}));
    assert_eq!(item["ok"]["version"], v1);
    let (status, body) = set_if(json!(v1));
    assert_eq!(status, 200, "{body}");
    let (status, body) = set_if(json!(v1));
    assert_eq!(status, 409, "a stale version is refused: {body}");

    let (status, body) = kv(&host, "owner", json!({"op": "set", "table": "t", "key": "s", "value": "text"}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = kv(&host, "owner", json!({"op": "increment", "table": "t", "key": "s", "delta": 1}));
    assert_eq!(status, 409);
    assert!(body["error"].as_str().unwrap().contains("is not an integer"), "{body}");
}

fn expired_items_vanish_from_get_listings_and_the_operator_api_and_stay_gone_after_restart(store: Store) {
    let (host, data) = Host::start_on(store, &PROBE);
    let (status, body) =
        kv(&host, "owner", json!({"op": "set", "table": "t", "key": "brief", "value": 1, "ttlMs": 1500}));
    assert_eq!(status, 200, "{body}");
    kv(&host, "owner", json!({"op": "set", "table": "t", "key": "lasting", "value": 2}));
    let (_, item) = kv(&host, "owner", json!({"op": "get-item", "table": "t", "key": "brief"}));
    let expires_at = item["ok"]["expiresAt"].as_u64().unwrap();
    assert_eq!(expires_at - item["ok"]["updatedAt"].as_u64().unwrap(), 1500);
    let operator = answer(api(&host, data.path(), "GET", "/kv/owner/t/brief"));
    assert_eq!((operator.status, &operator.json["expiresAt"]), (200, &json!(expires_at)));

    let start = Instant::now();
    while kv(&host, "owner", json!({"op": "get", "table": "t", "key": "brief"})).0 == 200 {
        assert!(start.elapsed() < Duration::from_secs(30), "the item never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = kv(&host, "owner", json!({"op": "get", "table": "t", "key": "brief"}));
    assert_eq!((status, body["kind"].as_str()), (404, Some("not-found")));
    assert_eq!(kv(&host, "owner", json!({"op": "list-keys", "table": "t"})).1["ok"], json!(["lasting"]));
    assert_eq!(kv(&host, "owner", json!({"op": "list-items", "table": "t"})).1["ok"].as_array().unwrap().len(), 1);
    assert_eq!(answer(api(&host, data.path(), "GET", "/kv/owner/t/brief")).status, 404);
    assert_eq!(answer(api(&host, data.path(), "GET", "/kv/owner/t")).json["keys"], json!(["lasting"]));

    host.stop();
    let host = Host::start_in(&data, &[]).unwrap();
    assert_eq!(kv(&host, "owner", json!({"op": "get", "table": "t", "key": "brief"})).0, 404);
    assert_eq!(kv(&host, "owner", json!({"op": "list-keys", "table": "t"})).1["ok"], json!(["lasting"]));
}

fn listings_page_through_a_prefix_with_cursors(store: Store) {
    let (host, data) = Host::start_on(store, &PROBE);
    for n in 0..25 {
        kv(&host, "owner", json!({"op": "set", "table": "t", "key": format!("user-{n:02}"), "value": n}));
    }
    kv(&host, "owner", json!({"op": "set", "table": "t", "key": "zz-other", "value": 0}));
    let mut keys = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let (status, body) = kv(
            &host,
            "owner",
            json!({"op": "list-keys", "table": "t", "prefix": "user-", "limit": 10, "cursor": cursor}),
        );
        assert_eq!(status, 200, "{body}");
        keys.extend(body["ok"]["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()));
        cursor = body["ok"]["cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(keys, (0..25).map(|n| format!("user-{n:02}")).collect::<Vec<_>>());

    let (status, body) = kv(&host, "owner", json!({"op": "list-items", "table": "t", "limit": 20000}));
    assert_eq!((status, body["kind"].as_str()), (400, Some("invalid-input")));
    assert!(body["error"].as_str().unwrap().contains("limit 20000 is not between 1 and 10000"), "{body}");
    let page = answer(api(&host, data.path(), "GET", "/kv/owner/t?prefix=user-1&limit=5&values=true"));
    assert_eq!(page.json["items"].as_array().unwrap().len(), 5);
    assert_eq!(page.json["cursor"], "user-14");
}

fn a_batch_is_all_or_nothing_and_names_the_failing_write(store: Store) {
    let (host, data) =
        Host::start_on(store, &[("owner", "tests/guests/probe-owner"), ("reader", "tests/guests/probe-reader")]);
    kv(&host, "reader", json!({"op": "set", "table": "theirs", "key": "k", "value": 1}));
    let writes = json!([
        {"op": "set", "table": "mine", "key": "a", "value": 1},
        {"op": "increment", "table": "mine", "key": "n", "delta": 5},
        {"op": "set", "table": "theirs", "key": "k", "value": 2},
    ]);
    let (status, body) = kv(&host, "owner", json!({"op": "batch", "writes": writes}));
    assert_eq!((status, &body["index"]), (403, &json!(2)), "{body}");
    assert!(body["error"].as_str().unwrap().contains("may not write table \"theirs\""), "{body}");
    assert_eq!(kv(&host, "owner", json!({"op": "list-tables"})).1["ok"], json!([]), "nothing was applied");

    let (status, body) = kv(
        &host,
        "owner",
        json!({"op": "batch", "writes": [writes[0], writes[1], {"op": "delete", "table": "mine", "key": "a"}]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"][1], json!({"incremented": 5}));
    assert_eq!(body["ok"][2], json!({"deleted": true}));
    assert_eq!(kv(&host, "owner", json!({"op": "list-keys", "table": "mine"})).1["ok"], json!(["n"]));

    // The operator's batch: the same rules, the same all-or-nothing.
    let ops = json!({"writes": [{"op": "increment", "table": "mine", "key": "n", "delta": 1}, {"op": "delete", "table": "mine", "key": "gone"}]});
    let refused = answer(api(&host, data.path(), "POST", "/kv/owner").json(&ops));
    assert_eq!((refused.status, &refused.json["index"]), (404, &json!(1)), "{}", refused.json);
    assert_eq!(kv(&host, "owner", json!({"op": "get", "table": "mine", "key": "n"})).1["ok"], 5);
    let patched = answer(api(&host, data.path(), "PATCH", "/kv/owner/mine/n").json(&json!({"increment": 10})));
    assert_eq!((patched.status, &patched.json["value"]), (200, &json!(15)));
    let guarded = answer(api(&host, data.path(), "PUT", "/kv/owner/mine/n").json(&json!({"value": 0, "ifVersion": 1})));
    assert_eq!(guarded.status, 409, "{}", guarded.json);
}

on_each_store!(
    two_hundred_concurrent_counter_requests_add_exactly_two_hundred,
    compare_and_swap_writers_with_retries_lose_no_update,
    versions_guard_set_if,
    expired_items_vanish_from_get_listings_and_the_operator_api_and_stay_gone_after_restart,
    listings_page_through_a_prefix_with_cursors,
    a_batch_is_all_or_nothing_and_names_the_failing_write,
);
