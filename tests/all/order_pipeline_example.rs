//! `examples/order-pipeline` as its README walks through it, on both
//! stores: an order whose charge fails once is retried, cools off and ships;
//! the same order again gets the same run; bad orders and a shortage of
//! stock are answered or compensated; and `floww runs` / `floww run` show
//! and drive its runs from the terminal.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::admin::api;
use crate::harness::{Host, Store, answer, on_each_store, run_floww};

const ORDERS: (&str, &str) = ("order-pipeline", "examples/order-pipeline");

/// The order's record once its status is `want`.
fn order_once(host: &Host, id: &str, want: &str) -> Value {
    let start = Instant::now();
    loop {
        let a = answer(host.request("GET", &format!("/webhook/orders?id={id}")));
        if a.status == 200 && a.json["status"] == want {
            return a.json;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "order {id} is not {want}: {} {}", a.status, a.json);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn an_order_survives_a_flaky_charge_and_ships_once(store: Store) {
    let (host, store) = Host::start_on(store, &[ORDERS]);
    assert_eq!(host.post("/stock", json!({"sku": "widget", "qty": 10})).1["stock"], 10);
    let order = json!({"orderId": "o-1", "items": [{"sku": "widget", "qty": 2}], "flaky": 1, "coolOffSecs": 1});
    let (status, placed) = host.post("/orders", order.clone());
    assert_eq!(status, 202, "{placed}");
    let run_id = placed["runId"].as_str().unwrap().to_owned();
    // The same order again is the same run (the order id is its key).
    assert_eq!(host.post("/orders", order).1["runId"], run_id);

    let shipped = order_once(&host, "o-1", "shipped");
    assert_eq!(shipped["runId"], run_id);
    // The run as the workflow sees it (`ctx.runs.get`), once it has ended.
    let start = Instant::now();
    let run = loop {
        let order = order_once(&host, "o-1", "shipped");
        if order["run"]["status"] == "completed" {
            break order["run"].clone();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{order}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(run["output"], json!({"orderId": "o-1", "shipped": true}));
    let steps: Vec<(&str, &str, u64)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap(), s["attempts"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("reserve", "completed", 1),
            ("charge", "completed", 2),
            ("cool-off", "completed", 0),
            ("ship", "completed", 1)
        ]
    );
    assert_eq!(
        host.request("GET", "/webhook/stats").send().unwrap().json::<Value>().unwrap(),
        json!({"stock": {"widget": 8}, "shipped": 1})
    );

    let run = answer(api(&host, store.path(), "GET", &format!("/runs/{run_id}"))).json;
    assert_eq!(run["status"], "completed", "{run}");
    let names: Vec<&str> = run["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["reserve", "charge", "cool-off", "ship"]);
    let charge = &run["steps"][1]["attempts"];
    assert_eq!(charge.as_array().unwrap().len(), 2, "{charge}");
    assert!(charge[0]["error"].as_str().unwrap().contains("attempt 1"), "{charge}");
    assert!(charge[1]["error"].is_null(), "{charge}");

    // From the terminal.
    let client = ["--host", &host.url, "--data-dir", store.path().to_str().unwrap()];
    let floww = |args: &[&str]| {
        let out = run_floww(&[args, &client].concat());
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = floww(&["runs", "order-pipeline"]);
    assert!(ok && out.contains(&run_id) && out.contains("fulfil  completed"), "{out}{err}");
    let (ok, out, err) = floww(&["run", "show", &run_id]);
    assert!(ok, "{err}");
    assert!(out.contains("#1 step \"charge\": completed") && out.contains("attempt 1 at"), "{out}");
    assert!(out.contains("#2 sleep \"cool-off\": completed"), "{out}");
    let input = r#"{"orderId": "o-1", "items": [{"sku": "widget", "qty": 2}]}"#;
    let (ok, out, err) = floww(&["run", "start", "order-pipeline", "fulfil", input, "--key", "o-1"]);
    assert!(ok && out.trim() == run_id, "{out}{err}");
    assert!(err.contains("key \"o-1\" started run") && err.contains("nothing new started"), "{err}");
    let (ok, _, err) = floww(&["run", "cancel", &run_id]);
    assert!(!ok && err.contains("409") && err.contains("has ended (completed)"), "{err}");
    let (ok, _, err) = floww(&["run", "start", "order-pipeline", "refund", "{}"]);
    assert!(!ok && err.contains("404") && err.contains("declares no run function \"refund\""), "{err}");
    let (ok, _, err) = floww(&["run", "start", "order-pipeline", "fulfil", "{not json"]);
    assert!(!ok && err.contains("the input is not JSON"), "{err}");
    let (ok, _, err) = floww(&["runs", "no-such-workflow"]);
    assert!(!ok && err.contains("404"), "{err}");
}

fn bad_orders_are_refused_and_a_shortage_is_compensated(store: Store) {
    let (host, _store) = Host::start_on(store, &[ORDERS]);
    let (status, body) = host.post("/orders", json!({"orderId": "", "items": [{"sku": "w", "qty": 1}]}));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("`orderId` must be 1 to 255"), "{body}");
    let (status, body) = host.post("/orders", json!({"orderId": "o-2", "items": []}));
    assert_eq!((status, body["error"].as_str()), (400, Some("`items` is empty: an order needs at least one item")));
    let unknown = answer(host.request("GET", "/webhook/orders?id=nope"));
    assert_eq!((unknown.status, unknown.json["error"].as_str()), (404, Some("no order nope")));

    // No stock at all: reserving fails for good, and the order is rejected.
    let (status, _) = host.post("/orders", json!({"orderId": "o-3", "items": [{"sku": "gadget", "qty": 1}]}));
    assert_eq!(status, 202);
    let rejected = order_once(&host, "o-3", "rejected");
    assert!(rejected["reason"].as_str().unwrap().contains("out of stock: gadget"), "{rejected}");
}

on_each_store!(an_order_survives_a_flaky_charge_and_ships_once, bad_orders_are_refused_and_a_shortage_is_compensated);
