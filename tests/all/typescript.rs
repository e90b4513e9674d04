//! TypeScript workflows: built from `tests/guests-ts/ts-probe` with `floww
//! build` (tsc, esbuild, componentize-js) and served by the same host as the
//! Rust ones, under the same KV rules. The probe's paths start with the id
//! it is deployed under, so one component plays several workflows.
//! (`kv_store_example::typescript` runs the seed's curls against
//! `examples/kv-store-ts`.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::admin::api;
use crate::harness::{Host, answer, failed_build, run_floww, wait_for};

const TS_PROBE: &str = "tests/guests-ts/ts-probe";

/// Rust probes answer at `/probe-<id>`, TypeScript ones at `/<id>`.
const WORKFLOWS: [(&str, &str); 4] = [
    ("owner", "tests/guests/probe-owner"),
    ("reader", "tests/guests/probe-reader"),
    ("ts-reader", TS_PROBE),
    ("ts-stranger", TS_PROBE),
];

/// One KV operation as workflow `id` (whichever language it is written in).
fn kv(host: &Host, id: &str, op: Value) -> (u16, Value) {
    let path = if id.starts_with("ts-") { format!("/{id}") } else { format!("/probe-{id}") };
    host.post(&path, op)
}

fn expect(host: &Host, id: &str, op: Value, status: u16) -> Value {
    let (got, body) = kv(host, id, op.clone());
    assert_eq!(got, status, "{id} {op}: {body}");
    body
}

/// Whether a grant of (read, write) allows an operation.
type Allows = fn(bool, bool) -> bool;

/// The operations of the permission matrix on `table`, with whether a
/// grantee's rights allow each (grant and revoke: only the owner).
fn matrix(table: &str, grantee: &str) -> Vec<(Value, Allows)> {
    vec![
        (json!({"op": "get", "table": table, "key": "k"}), |read, _| read),
        (json!({"op": "set", "table": table, "key": "k", "value": {"n": 1}}), |_, write| write),
        (json!({"op": "list-keys", "table": table}), |read, _| read),
        (json!({"op": "list-items", "table": table}), |read, _| read),
        (json!({"op": "list-permissions", "table": table}), |read, _| read),
        (json!({"op": "grant", "table": table, "workflowId": grantee, "read": true, "write": true}), |_, _| false),
        (json!({"op": "revoke", "table": table, "workflowId": grantee}), |_, _| false),
        (json!({"op": "delete", "table": table, "key": "k"}), |_, write| write),
    ]
}

/// Runs every operation of the matrix as `id`, which holds `read` and
/// `write` on `table` (owned by `owner`): allowed ones answer 200, the rest
/// 403 permission-denied naming the table. A delete puts the key back.
fn check_rights(host: &Host, id: &str, table: &str, (owner, grantee): (&str, &str), read: bool, write: bool) {
    for (op, allowed) in matrix(table, grantee) {
        if allowed(read, write) {
            expect(host, id, op.clone(), 200);
            if op["op"] == "delete" {
                expect(host, owner, json!({"op": "set", "table": table, "key": "k", "value": {"n": 0}}), 200);
            }
        } else {
            let body = expect(host, id, op.clone(), 403);
            assert_eq!(body["kind"], "permission-denied", "{id} {op}: {body}");
            assert!(body["error"].as_str().unwrap().contains(&format!("\"{table}\"")), "{id} {op}: {body}");
        }
    }
}

fn grant(host: &Host, owner: &str, table: &str, to: &str, read: bool, write: bool) {
    let op = json!({"op": "grant", "table": table, "workflowId": to, "read": read, "write": write});
    expect(host, owner, op, 200);
}

/// A Rust workflow's table shared with a TypeScript one, and a TypeScript
/// workflow's table shared with a Rust one: each language gets exactly its
/// grant's rights on every operation, nothing without one, and nothing after
/// the revoke.
#[test]
fn typescript_and_rust_workflows_share_tables_only_through_grants() {
    let (host, _data) = Host::start(&WORKFLOWS);

    // Rust owns, TypeScript reads.
    expect(&host, "owner", json!({"op": "set", "table": "shared", "key": "k", "value": {"n": 0}}), 200);
    check_rights(&host, "ts-reader", "shared", ("owner", "ts-stranger"), false, false);
    grant(&host, "owner", "shared", "ts-reader", true, false);
    check_rights(&host, "ts-reader", "shared", ("owner", "ts-stranger"), true, false);
    check_rights(&host, "ts-stranger", "shared", ("owner", "ts-reader"), false, false);
    let body = expect(&host, "ts-reader", json!({"op": "get", "table": "shared", "key": "k"}), 200);
    assert_eq!(body["ok"], json!({"n": 0}));
    assert_eq!(expect(&host, "ts-reader", json!({"op": "list-tables"}), 200)["ok"], json!(["shared"]));
    assert_eq!(expect(&host, "ts-stranger", json!({"op": "list-tables"}), 200)["ok"], json!([]));

    // TypeScript owns, Rust writes (write alone: no reads).
    expect(&host, "ts-reader", json!({"op": "set", "table": "ts-owned", "key": "k", "value": {"n": 0}}), 200);
    check_rights(&host, "reader", "ts-owned", ("ts-reader", "ts-stranger"), false, false);
    grant(&host, "ts-reader", "ts-owned", "reader", false, true);
    check_rights(&host, "reader", "ts-owned", ("ts-reader", "ts-stranger"), false, true);
    let body = expect(&host, "ts-reader", json!({"op": "list-permissions", "table": "ts-owned"}), 200);
    assert_eq!(
        body["ok"],
        json!([
            {"workflowId": "ts-reader", "canRead": true, "canWrite": true, "isOwner": true},
            {"workflowId": "reader", "canRead": false, "canWrite": true, "isOwner": false},
        ])
    );

    // Revokes, each way.
    expect(&host, "owner", json!({"op": "revoke", "table": "shared", "workflowId": "ts-reader"}), 200);
    check_rights(&host, "ts-reader", "shared", ("owner", "ts-stranger"), false, false);
    let body = expect(&host, "ts-reader", json!({"op": "get", "table": "shared", "key": "k"}), 403);
    assert!(body["error"].as_str().unwrap().contains("may not read table \"shared\""), "{body}");
    expect(&host, "ts-reader", json!({"op": "revoke", "table": "ts-owned", "workflowId": "reader"}), 200);
    check_rights(&host, "reader", "ts-owned", ("ts-reader", "ts-stranger"), false, false);
}

/// Every kind of `KVError` reaches a TypeScript workflow with the status,
/// kind and message the Rust SDK gives a Rust workflow for the same call.
#[test]
fn kv_errors_reach_typescript_as_they_reach_rust() {
    let (host, _data) = Host::start(&WORKFLOWS);
    let big = "x".repeat(1 << 20);
    for id in ["owner", "ts-reader"] {
        // Each its own table: the first writer of a table owns it.
        let table = format!("own-{id}");
        expect(&host, id, json!({"op": "set", "table": table, "key": "text", "value": "not a number"}), 200);
    }
    let cases = |table: &str| {
        [
            (json!({"op": "get", "table": table, "key": "nope"}), 404, "not-found"),
            (json!({"op": "get", "table": "no-such-table", "key": "k"}), 404, "not-found"),
            (json!({"op": "get", "table": "bad name!", "key": "k"}), 400, "invalid-input"),
            (json!({"op": "set", "table": table, "key": "big", "value": big}), 413, "value-too-large"),
            (
                json!({"op": "set-if", "table": table, "key": "text", "value": 1, "expectedVersion": 999}),
                409,
                "conflict",
            ),
            (json!({"op": "increment", "table": table, "key": "text", "delta": -1}), 409, "conflict"),
            (json!({"op": "drop-table", "table": "no-such-table"}), 404, "not-found"),
        ]
    };
    for ((rust_op, status, kind), (ts_op, _, _)) in cases("own-owner").into_iter().zip(cases("own-ts-reader")) {
        let rust = expect(&host, "owner", rust_op.clone(), status);
        let ts = expect(&host, "ts-reader", ts_op.clone(), status);
        assert_eq!((&ts["kind"], &rust["kind"]), (&json!(kind), &json!(kind)), "{ts_op}: {ts}");
        // Versions come from one counter for the whole store, so they differ.
        let shape = |message: &Value| -> String {
            let message = message.as_str().unwrap().replace("own-ts-reader", "own-owner");
            message.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect()
        };
        assert_eq!(shape(&ts["error"]), shape(&rust["error"]), "the same message in both languages for {ts_op}");
    }
    // The other's table: 403 both ways.
    for (id, table) in [("ts-reader", "own-owner"), ("owner", "own-ts-reader")] {
        let body = expect(&host, id, json!({"op": "get", "table": table, "key": "text"}), 403);
        assert_eq!(body["kind"], "permission-denied", "{body}");
    }
}

/// A handler that throws answers 500 with its message, which the execution's
/// record keeps; an endless loop is stopped at the deadline (504); the host
/// and the other workflows go on.
#[test]
fn a_throwing_or_looping_typescript_handler_fails_alone() {
    let (host, data) = Host::start_with_flags(&WORKFLOWS, &["--timeout", "2"]);
    let thrown = answer(host.request("POST", "/webhook/ts-reader/throw").body("{}"));
    assert_eq!(thrown.status, 500, "{}", thrown.json);
    assert_eq!(thrown.json["error"], "boom from typescript");
    let execution = thrown.headers["x-floww-execution-id"].to_str().unwrap().to_owned();
    let record = answer(api(&host, data.path(), "GET", &format!("/executions/{execution}")));
    assert_eq!(record.status, 200, "{}", record.json);
    assert_eq!(record.json["workflow"], "ts-reader");
    let logged = record.json["logs"].to_string();
    assert!(logged.contains("boom from typescript"), "the record has the message: {}", record.json);

    let started = Instant::now();
    let (status, body) = host.post("/ts-reader/loop", json!({}));
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "workflow \"ts-reader\" timed out: it ran past its 2s limit and was stopped");
    assert!(started.elapsed() < Duration::from_secs(10), "stopped near its deadline: {:?}", started.elapsed());

    // Still serving, both languages.
    expect(&host, "ts-stranger", json!({"op": "list-tables"}), 200);
    expect(&host, "owner", json!({"op": "list-tables"}), 200);
}

/// Builds of new TypeScript workflows go under the repository (in target/),
/// so they find its npm packages and need no `npm install` of their own.
fn scratch_dir() -> tempfile::TempDir {
    let parent = crate::harness::repo_root().join("target/floww-ts-tests");
    std::fs::create_dir_all(&parent).unwrap();
    tempfile::tempdir_in(parent).unwrap()
}

fn new_ts(parent: &Path, name: &str) -> PathBuf {
    let out = run_floww(&["new", name, "--lang", "ts", "--dir", parent.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    parent.join(name)
}

/// `floww new --lang ts` makes a workflow that `floww dev` serves; a saved
/// edit swaps in; a type error is shown as tsc reports it and the last good
/// version keeps serving.
#[test]
fn a_new_typescript_workflow_serves_and_dev_swaps_edits_in_and_survives_type_errors() {
    let dir = scratch_dir();
    let project = new_ts(dir.path(), "ts-hot");
    for file in ["package.json", "tsconfig.json", "src/index.ts", "README.md", ".gitignore"] {
        assert!(project.join(file).is_file(), "{file}");
    }
    let host = Host::dev_with_env(&project, &dir.path().join("data"), &[]).unwrap();
    let visit = |host: &Host| host.post("/ts-hot/visits", json!({"page": " Home "}));
    assert_eq!(visit(&host), (200, json!({"page": "home", "visits": 1})));
    let (status, body) = host.post("/ts-hot/visits", json!({"page": "  "}));
    assert_eq!((status, &body["error"]), (422, &json!("page must name a page, e.g. \"home\"")), "{body}");

    let index = project.join("src/index.ts");
    let source = std::fs::read_to_string(&index).unwrap();
    let edited = source.replace("json(200, { page: key, visits })", "json(200, { page: key, visits, version: 2 })");
    assert_ne!(edited, source, "the template has the line this test edits");
    std::fs::write(&index, &edited).unwrap();
    wait_for("the new version", Duration::from_secs(120), || visit(&host).1["version"] == 2);
    assert!(host.logged("Reloaded ts-hot"), "{}", host.logs());

    // A type error: tsc's message, and the last good version stays.
    std::fs::write(&index, format!("{edited}\nconst broken: number = \"text\";\n")).unwrap();
    wait_for("the build error", Duration::from_secs(120), || {
        host.logs().contains("Still serving the last good version")
    });
    let logs = host.logs();
    assert!(logs.contains("src/index.ts("), "tsc names the file and line: {logs}");
    assert!(logs.contains("error TS2322: Type 'string' is not assignable to type 'number'."), "{logs}");
    assert!(logs.contains("TypeScript found errors (above); nothing was built"), "{logs}");
    let (status, body) = visit(&host);
    assert_eq!((status, &body["version"]), (200, &json!(2)), "{body}");
    assert!(body["visits"].as_u64().unwrap() >= 3, "KV data stayed across the swaps: {body}");
}

/// `floww build` of a TypeScript package says what is wrong in its words:
/// a syntax error with esbuild's file, line and column, a missing entry.
#[test]
fn typescript_build_errors_say_where() {
    let dir = scratch_dir();
    let project = new_ts(dir.path(), "ts-broken");
    std::fs::remove_file(project.join("tsconfig.json")).unwrap(); // esbuild alone, no tsc
    std::fs::write(project.join("src/index.ts"), "export default (;\n").unwrap();
    let stderr = failed_build(&project);
    assert!(stderr.contains("src/index.ts:1:16:"), "{stderr}");
    assert!(stderr.contains("bundling failed; nothing was built"), "{stderr}");

    std::fs::remove_file(project.join("src/index.ts")).unwrap();
    let stderr = failed_build(&project);
    assert!(stderr.contains("the workflow's entry"), "{stderr}");
    assert!(stderr.contains("src/index.ts does not exist"), "{stderr}");
}

/// Node.js is the one thing a TypeScript build needs besides its packages:
/// missing or too old, the build says which and how to fix it.
#[test]
fn a_typescript_build_without_node_20_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("needs-node");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(project.join("package.json"), r#"{"name": "needs-node"}"#).unwrap();
    std::fs::write(project.join("src/index.ts"), "export default {};\n").unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let build = |path: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_floww"))
            .arg("build")
            .arg(&project)
            .env("PATH", path)
            .output()
            .unwrap()
    };

    let out = build(&bin);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TypeScript workflows need Node.js 20 or later (https://nodejs.org): no `node` on PATH"),
        "{stderr}"
    );

    let old_node = bin.join("node");
    std::fs::write(&old_node, "#!/bin/sh\necho v18.19.0\n").unwrap();
    let mut permissions = std::fs::metadata(&old_node).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&old_node, permissions).unwrap();
    let out = build(&bin);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("TypeScript workflows need Node.js 20 or later (https://nodejs.org); `node` on PATH is v18.19.0"),
        "{stderr}"
    );
    assert!(!project.join("dist").exists(), "nothing built");
}

/// `floww new --lang ts` refuses what would not work, before writing anything.
#[test]
fn a_new_typescript_workflow_is_refused_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().to_str().unwrap();
    let not_ts = dir.path().join("rust-sdk");
    std::fs::create_dir_all(&not_ts).unwrap();
    let cases = [
        (vec!["new", "floww", "--lang", "ts", "--dir", parent], "\"floww\" can't name the package"),
        (
            vec!["new", "flow-a", "--lang", "ts", "--dir", parent, "--sdk", not_ts.to_str().unwrap()],
            "is not the TypeScript SDK (it has no package.json): pass --sdk PATH",
        ),
        (
            vec!["new", "flow-b", "--lang", "ts", "--dir", parent, "--sdk", "/no/such/sdk"],
            "no floww SDK at /no/such/sdk",
        ),
    ];
    for (args, why) in cases {
        let out = run_floww(&args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
    let written: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(written, ["rust-sdk"], "nothing written");
}

/// A package whose tools are not installed is told to install them.
#[test]
fn a_typescript_build_without_its_tools_says_to_install_them() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("no-tools");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::create_dir_all(project.join("node_modules")).unwrap(); // installed, but not the tools
    std::fs::write(project.join("package.json"), r#"{"name": "no-tools"}"#).unwrap();
    std::fs::write(project.join("src/index.ts"), "export default {};\n").unwrap();
    let stderr = failed_build(&project);
    assert!(stderr.contains("esbuild is not installed for"), "{stderr}");
    assert!(stderr.contains("run `npm install` there"), "{stderr}");
}
