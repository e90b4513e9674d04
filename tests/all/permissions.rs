//! The permission matrix: owner, granted-read, granted-write, no grant and
//! after revoke, for each of the nine KV operations, through real guests.

use serde_json::{Value, json};

use crate::harness::{Host, Store, on_each_store};

const PROBES: [(&str, &str); 4] = [
    ("owner", "tests/guests/probe-owner"),
    ("reader", "tests/guests/probe-reader"),
    ("writer", "tests/guests/probe-writer"),
    ("stranger", "tests/guests/probe-stranger"),
];

/// Runs one KV operation as `who` (a probe workflow) and returns status and body.
pub fn kv(host: &Host, who: &str, op: Value) -> (u16, Value) {
    host.post(&format!("/probe-{who}"), op)
}

fn expect(host: &Host, who: &str, op: Value, status: u16) -> Value {
    let (got, body) = kv(host, who, op.clone());
    assert_eq!(got, status, "{who} {op}: {body}");
    body
}

fn ops(table: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("get", json!({"op": "get", "table": table, "key": "k"})),
        ("set", json!({"op": "set", "table": table, "key": "k", "value": {"n": 1}})),
        ("list-keys", json!({"op": "list-keys", "table": table})),
        ("list-items", json!({"op": "list-items", "table": table})),
        ("list-permissions", json!({"op": "list-permissions", "table": table})),
        ("grant", json!({"op": "grant", "table": table, "workflowId": "stranger", "read": true, "write": false})),
        ("revoke", json!({"op": "revoke", "table": table, "workflowId": "reader"})),
        ("delete", json!({"op": "delete", "table": table, "key": "k"})),
    ]
}

/// Runs every operation but list-tables as `who`, expecting the status in
/// `allowed` (true → 200, false → 403). Write ops run on a scratch key.
fn check_row(host: &Host, who: &str, allowed: [bool; 8]) {
    for ((name, op), ok) in ops("shared").into_iter().zip(allowed) {
        // Keep the fixture intact: grants and revokes by permitted callers are
        // checked in their own tests; here only their refusals are.
        if ok && matches!(name, "grant" | "revoke") {
            continue;
        }
        let body = expect(host, who, op, if ok { 200 } else { 403 });
        if !ok {
            assert_eq!(body["kind"], "permission-denied", "{who} {name}: {body}");
            assert!(body["error"].as_str().unwrap().contains("shared"), "{who} {name}: {body}");
        }
        if ok && name == "delete" {
            // Put the key back for the next row.
            expect(host, "owner", ops("shared")[1].1.clone(), 200);
        }
    }
}

fn setup(store: Store) -> (Host, Store) {
    let (host, dir) = Host::start_on(store, &PROBES);
    expect(&host, "owner", json!({"op": "set", "table": "shared", "key": "k", "value": {"n": 0}}), 200);
    expect(
        &host,
        "owner",
        json!({"op": "grant", "table": "shared", "workflowId": "reader", "read": true, "write": false}),
        200,
    );
    expect(
        &host,
        "owner",
        json!({"op": "grant", "table": "shared", "workflowId": "writer", "read": false, "write": true}),
        200,
    );
    (host, dir)
}

fn each_role_gets_exactly_its_rights_on_every_operation(store: Store) {
    let (host, _dir) = setup(store);
    //                      get    set    keys   items  perms  grant  revoke delete
    check_row(&host, "owner", [true, true, true, true, true, true, true, true]);
    check_row(&host, "reader", [true, false, true, true, true, false, false, false]);
    check_row(&host, "writer", [false, true, false, false, false, false, false, true]);
    check_row(&host, "stranger", [false, false, false, false, false, false, false, false]);

    for (who, tables) in [
        ("owner", json!(["shared"])),
        ("reader", json!(["shared"])),
        ("writer", json!(["shared"])),
        ("stranger", json!([])),
    ] {
        let body = expect(&host, who, json!({"op": "list-tables"}), 200);
        assert_eq!(body["ok"], tables, "{who}");
    }
}

fn list_permissions_shows_the_owner_first_then_grants(store: Store) {
    let (host, _dir) = setup(store);
    let body = expect(&host, "reader", json!({"op": "list-permissions", "table": "shared"}), 200);
    assert_eq!(
        body["ok"],
        json!([
            {"workflowId": "owner", "canRead": true, "canWrite": true, "isOwner": true},
            {"workflowId": "reader", "canRead": true, "canWrite": false, "isOwner": false},
            {"workflowId": "writer", "canRead": false, "canWrite": true, "isOwner": false},
        ])
    );
}

fn revoke_takes_access_away_and_grants_are_upserts(store: Store) {
    let (host, _dir) = setup(store);
    expect(&host, "owner", json!({"op": "revoke", "table": "shared", "workflowId": "reader"}), 200);
    let body = expect(&host, "reader", json!({"op": "get", "table": "shared", "key": "k"}), 403);
    assert!(body["error"].as_str().unwrap().contains("may not read table \"shared\""), "{body}");
    assert_eq!(expect(&host, "reader", json!({"op": "list-tables"}), 200)["ok"], json!([]));
    let body = expect(&host, "owner", json!({"op": "revoke", "table": "shared", "workflowId": "reader"}), 404);
    assert!(body["error"].as_str().unwrap().contains("has no grant"), "{body}");

    // A second grant replaces the first: writer becomes read-only.
    expect(
        &host,
        "owner",
        json!({"op": "grant", "table": "shared", "workflowId": "writer", "read": true, "write": false}),
        200,
    );
    expect(&host, "writer", json!({"op": "get", "table": "shared", "key": "k"}), 200);
    expect(&host, "writer", json!({"op": "set", "table": "shared", "key": "k", "value": 1}), 403);
}

fn grant_errors_name_their_cause(store: Store) {
    let (host, _dir) = setup(store);
    let cases = [
        (
            json!({"op": "grant", "table": "shared", "workflowId": "nobody", "read": true, "write": false}),
            404,
            "no workflow \"nobody\" is deployed",
        ),
        (
            json!({"op": "grant", "table": "shared", "workflowId": "owner", "read": true, "write": false}),
            409,
            "owns table",
        ),
        (json!({"op": "revoke", "table": "shared", "workflowId": "owner"}), 409, "owns table"),
        (
            json!({"op": "grant", "table": "shared", "workflowId": "reader", "read": false, "write": false}),
            400,
            "needs read or write",
        ),
        (
            json!({"op": "grant", "table": "shared", "workflowId": "Bad_Id", "read": true, "write": false}),
            400,
            "invalid workflow id",
        ),
        (
            json!({"op": "grant", "table": "missing", "workflowId": "reader", "read": true, "write": false}),
            404,
            "table \"missing\" does not exist",
        ),
    ];
    for (op, status, needle) in cases {
        let body = expect(&host, "owner", op.clone(), status);
        assert!(body["error"].as_str().unwrap().contains(needle), "{op}: {body}");
    }
    let body = expect(
        &host,
        "reader",
        json!({"op": "grant", "table": "shared", "workflowId": "stranger", "read": true, "write": false}),
        403,
    );
    assert!(body["error"].as_str().unwrap().contains("only the owner"), "{body}");
}

fn missing_tables_and_keys_are_404_for_every_caller(store: Store) {
    let (host, _dir) = setup(store);
    for who in ["owner", "stranger"] {
        for (name, op) in ops("no-such-table").into_iter().filter(|(name, _)| *name != "set") {
            let body = expect(&host, who, op, 404);
            assert_eq!(body["kind"], "not-found", "{who} {name}");
            assert!(body["error"].as_str().unwrap().contains("table \"no-such-table\" does not exist"), "{body}");
        }
    }
    let body = expect(&host, "owner", json!({"op": "get", "table": "shared", "key": "nope"}), 404);
    assert!(body["error"].as_str().unwrap().contains("key \"nope\" not found"), "{body}");
}

fn grantees_are_refused_every_operation_before_their_grant_and_after_its_revoke(store: Store) {
    let (host, _dir) = Host::start_on(store, &PROBES);
    expect(&host, "owner", json!({"op": "set", "table": "shared", "key": "k", "value": {"n": 0}}), 200);
    let nothing = [false; 8];
    let grant = |who: &str, read: bool, write: bool| {
        let op = json!({"op": "grant", "table": "shared", "workflowId": who, "read": read, "write": write});
        expect(&host, "owner", op, 200);
    };
    let revoke = |who: &str| expect(&host, "owner", json!({"op": "revoke", "table": "shared", "workflowId": who}), 200);
    let tables = |who: &str| expect(&host, who, json!({"op": "list-tables"}), 200)["ok"].clone();

    // Before a grant, a workflow is a stranger to the table.
    for who in ["reader", "writer", "stranger"] {
        check_row(&host, who, nothing);
        assert_eq!(tables(who), json!([]), "{who}");
    }

    grant("reader", true, false);
    grant("writer", false, true);
    grant("stranger", true, true);
    //                          get    set    keys   items  perms  grant  revoke delete
    check_row(&host, "reader", [true, false, true, true, true, false, false, false]);
    check_row(&host, "writer", [false, true, false, false, false, false, false, true]);
    check_row(&host, "stranger", [true, true, true, true, true, false, false, true]);

    // After the revoke, every right is gone again, whatever the grant gave.
    for who in ["reader", "writer", "stranger"] {
        revoke(who);
        check_row(&host, who, nothing);
        assert_eq!(tables(who), json!([]), "{who}");
    }
    // The owner keeps every right and the data is as the owner left it.
    check_row(&host, "owner", [true; 8]);
    let body = expect(&host, "owner", json!({"op": "list-permissions", "table": "shared"}), 200);
    assert_eq!(body["ok"], json!([{"workflowId": "owner", "canRead": true, "canWrite": true, "isOwner": true}]));
    let body = expect(&host, "owner", json!({"op": "get", "table": "shared", "key": "k"}), 200);
    assert_eq!(body["ok"], json!({"n": 1}), "the key holds the last value set");
}

on_each_store!(
    each_role_gets_exactly_its_rights_on_every_operation,
    list_permissions_shows_the_owner_first_then_grants,
    revoke_takes_access_away_and_grants_are_upserts,
    grant_errors_name_their_cause,
    missing_tables_and_keys_are_404_for_every_caller,
    grantees_are_refused_every_operation_before_their_grant_and_after_its_revoke,
);
