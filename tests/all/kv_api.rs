//! The operator KV API and `floww kv`: every route acts as the workflow in
//! its path, under the same rules, with 401/403/404/400 where they apply.

use serde_json::json;

use crate::admin::api;
use std::io::Write;
use std::process::Stdio;

use crate::harness::{Host, Store, answer, floww, on_each_store, run_floww};

fn setup(store: Store) -> (Host, Store) {
    let (host, data) =
        Host::start_on(store, &[("owner", "tests/guests/probe-owner"), ("reader", "tests/guests/probe-reader")]);
    let (status, _) = host.post("/probe-owner", json!({"op": "set", "table": "shared", "key": "k", "value": {"n": 1}}));
    assert_eq!(status, 200);
    (host, data)
}

fn every_route_reads_and_writes_as_the_named_workflow(store: Store) {
    let (host, data) = setup(store);
    let d = data.path();
    let call = |method: &str, path: &str| answer(api(&host, d, method, path));

    let tables = call("GET", "/kv/owner");
    assert_eq!(tables.json, json!({"tables": [{"name": "shared", "owner": "owner"}]}));
    assert_eq!(call("GET", "/kv/owner/shared").json, json!({"keys": ["k"], "cursor": null}));
    let items = call("GET", "/kv/owner/shared?values=true").json;
    assert_eq!(items["items"][0]["value"], json!({"n": 1}));
    let item = call("GET", "/kv/owner/shared/k");
    assert_eq!((item.status, &item.json["value"]), (200, &json!({"n": 1})));

    let put = answer(api(&host, d, "PUT", "/kv/owner/shared/k2").json(&json!({"value": [1, 2]})));
    assert_eq!((put.status, &put.json["stored"]), (200, &json!(true)));
    let (_, seen) = host.post("/probe-owner", json!({"op": "get", "table": "shared", "key": "k2"}));
    assert_eq!(seen["ok"], json!([1, 2]), "the guest sees the operator's write");
    let deleted = call("DELETE", "/kv/owner/shared/k2");
    assert_eq!((deleted.status, &deleted.json["deleted"]), (200, &json!(true)));

    // Permissions: the reader is refused, granted, then revoked.
    let refused = call("GET", "/kv/reader/shared/k");
    assert_eq!(refused.status, 403);
    assert!(refused.json["error"].as_str().unwrap().contains("may not read table \"shared\""), "{}", refused.json);
    let granted = answer(
        api(&host, d, "PUT", "/kv/owner/permissions/shared").json(&json!({"workflowId": "reader", "canRead": true})),
    );
    assert_eq!(granted.status, 200, "{}", granted.json);
    assert_eq!(call("GET", "/kv/reader/shared/k").status, 200);
    let perms = call("GET", "/kv/reader/permissions/shared").json;
    assert_eq!(
        perms["permissions"][1],
        json!({"workflowId": "reader", "canRead": true, "canWrite": false, "isOwner": false})
    );
    assert_eq!(call("PUT", "/kv/reader/shared/k").status, 400, "a PUT without a body is refused");
    let write = answer(api(&host, d, "PUT", "/kv/reader/shared/k").json(&json!({"value": 2})));
    assert_eq!(write.status, 403, "read-only: {}", write.json);
    assert_eq!(call("DELETE", "/kv/owner/permissions/shared/reader").status, 200);
    assert_eq!(call("GET", "/kv/reader/shared/k").status, 403);
}

fn only_the_owner_drops_a_table_and_nothing_of_it_stays(store: Store) {
    let (host, data) = setup(store);
    let d = data.path();
    let call = |method: &str, path: &str| answer(api(&host, d, method, path));
    let grant = json!({"workflowId": "reader", "canRead": true, "canWrite": true});
    assert_eq!(answer(api(&host, d, "PUT", "/kv/owner/permissions/shared").json(&grant)).status, 200);

    let refused = call("DELETE", "/kv/reader/shared");
    assert_eq!(refused.status, 403, "a grantee may write, not drop: {}", refused.json);
    assert_eq!(refused.json["error"], "only the owner of table \"shared\" may drop it");
    let dropped = call("DELETE", "/kv/owner/shared");
    assert_eq!((dropped.status, dropped.json), (200, json!({"table": "shared", "dropped": true})));
    let again = call("DELETE", "/kv/owner/shared");
    assert_eq!((again.status, again.json["error"].as_str()), (404, Some("table \"shared\" does not exist")));
    assert_eq!(call("GET", "/kv/owner").json, json!({"tables": []}));

    // The name is free: the reader's write makes a new, empty table of its own.
    let put = answer(api(&host, d, "PUT", "/kv/reader/shared/mine").json(&json!({"value": 1})));
    assert_eq!(put.status, 200, "{}", put.json);
    assert_eq!(call("GET", "/kv/reader/shared").json, json!({"keys": ["mine"], "cursor": null}));
    assert_eq!(call("GET", "/kv/owner/shared/k").status, 403, "the old owner's grant-less view");

    // A guest drops its own table through the SDK, and gets 404 and 403 as the API does.
    let (status, _) = host.post("/probe-owner", json!({"op": "set", "table": "scratch", "key": "k", "value": 1}));
    assert_eq!(status, 200);
    let (status, body) = host.post("/probe-owner", json!({"op": "drop-table", "table": "scratch"}));
    assert_eq!((status, body), (200, json!({"ok": null})));
    let (status, body) = host.post("/probe-owner", json!({"op": "drop-table", "table": "scratch"}));
    assert_eq!((status, body["kind"].as_str()), (404, Some("not-found")));
    let (status, body) = host.post("/probe-owner", json!({"op": "drop-table", "table": "shared"}));
    assert_eq!((status, body["kind"].as_str()), (403, Some("permission-denied")), "{body}");
}

fn errors_carry_their_status_and_reason(store: Store) {
    let (host, data) = setup(store);
    let d = data.path();
    let cases = [
        (api(&host, d, "GET", "/kv/owner/nope/k"), 404, "table \"nope\" does not exist"),
        (api(&host, d, "GET", "/kv/owner/shared/nope"), 404, "key \"nope\" not found in table \"shared\""),
        (api(&host, d, "GET", "/kv/owner/bad%20table"), 400, "table name \"bad table\" contains ' '"),
        (api(&host, d, "GET", "/kv/Owner/shared"), 400, "invalid workflow id \"Owner\""),
        (
            api(&host, d, "PUT", "/kv/owner/shared/k").json(&json!({"nothing": 1})),
            400,
            "expected {\"value\": …, \"ttlMs\"?",
        ),
        (
            api(&host, d, "PUT", "/kv/reader/permissions/shared")
                .json(&json!({"workflowId": "reader", "canRead": true})),
            403,
            "only the owner",
        ),
        (api(&host, d, "DELETE", "/kv/owner/permissions/shared/owner"), 409, "owns table"),
        (api(&host, d, "DELETE", "/kv/owner/permissions/shared/reader"), 404, "has no grant"),
        (host.request("GET", "/api/kv/owner/shared/k"), 401, "missing or wrong admin token"),
    ];
    for (request, status, needle) in cases {
        let a = answer(request);
        assert_eq!(a.status, status, "{}", a.json);
        assert!(a.json["error"].as_str().unwrap().contains(needle), "expected {needle:?} in {}", a.json);
    }
    let big = format!("\"{}\"", "x".repeat(1024 * 1024));
    let too_large = answer(
        api(&host, d, "PUT", "/kv/owner/shared/big")
            .header("content-type", "application/json")
            .body(format!("{{\"value\": {big}}}")),
    );
    assert_eq!(too_large.status, 413, "{}", too_large.json);
}

fn floww_kv_drives_the_api_from_the_terminal(store: Store) {
    let (host, data) = setup(store);
    let client = ["--host", &host.url, "--data-dir", data.path().to_str().unwrap()];
    let kv = |args: &[&str]| {
        let out = run_floww(&[&["kv", "--as", "owner"][..], args, &client].concat());
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success(), text, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, out, err) = kv(&["set", "shared", "greeting", r#"{"text": "hi"}"#]);
    assert!(ok, "{err}");
    assert!(out.contains("\"stored\": true"), "{out}");
    let (_, out, _) = kv(&["get", "shared", "greeting"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["value"], json!({"text": "hi"}));
    let (_, out, _) = kv(&["keys", "shared"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        json!({"keys": ["greeting", "k"], "cursor": null})
    );
    let (ok, out, err) = kv(&["incr", "shared", "hits", "5"]);
    assert!(ok && out.contains("\"value\": 5"), "{out}{err}");
    let (_, out, _) = kv(&["keys", "shared", "--prefix", "g", "--limit", "1"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), json!({"keys": ["greeting"], "cursor": null}));
    let (ok, _, err) = kv(&["grant", "shared", "reader", "--read"]);
    assert!(ok, "{err}");
    let (_, out, _) = kv(&["perms", "shared"]);
    assert!(out.contains("\"workflowId\": \"reader\""), "{out}");
    assert!(kv(&["revoke", "shared", "reader"]).0);
    assert!(kv(&["rm", "shared", "greeting"]).0);
    let (ok, _, err) = kv(&["get", "shared", "greeting"]);
    assert!(!ok);
    assert!(err.contains("404 Not Found: key \"greeting\" not found"), "{err}");
    let (ok, _, err) = kv(&["set", "shared", "x", "not json"]);
    assert!(!ok && err.contains("the value must be JSON text"), "{err}");
    let (_, out, _) = kv(&["tables"]);
    assert!(out.contains("\"owner\": \"owner\""), "{out}");

    // A drop asks for the table's name first; no answer, or a wrong one, drops nothing.
    let (ok, _, err) = kv(&["drop", "shared"]);
    assert!(!ok && err.contains("Type the table's name to confirm"), "{err}");
    assert!(err.contains("not dropped: the answer was not \"shared\" (pass --yes"), "{err}");
    assert!(kv(&["get", "shared", "k"]).0, "the table is still there");
    let mut confirmed = floww()
        .args([&["kv", "--as", "owner", "drop", "shared"][..], &client].concat())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    confirmed.stdin.take().unwrap().write_all(b"shared\n").unwrap();
    let out = confirmed.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"dropped\": true"));
    let (ok, _, err) = kv(&["keys", "shared"]);
    assert!(!ok && err.contains("404 Not Found: table \"shared\" does not exist"), "{err}");
    assert!(kv(&["set", "gone", "k", "1"]).0);
    let (ok, out, err) = kv(&["drop", "gone", "--yes"]);
    assert!(ok && out.contains("\"dropped\": true"), "{out}{err}");
}

on_each_store!(
    every_route_reads_and_writes_as_the_named_workflow,
    errors_carry_their_status_and_reason,
    only_the_owner_drops_a_table_and_nothing_of_it_stays,
    floww_kv_drives_the_api_from_the_terminal,
);
