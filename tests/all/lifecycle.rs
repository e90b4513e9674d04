//! Start-up, restart and the command line: deployments and data persist,
//! bad input is refused with a clear message before anything changes.

use serde_json::json;

use crate::harness::{Host, Store, deploys, failed_build, guest, on_each_store, repo_root, run_floww};

const PROBE: (&str, &str) = ("owner", "tests/guests/probe-owner");

fn set(host: &Host, key: &str, value: i64) {
    let (status, body) = host.post("/probe-owner", json!({"op": "set", "table": "t", "key": key, "value": value}));
    assert_eq!(status, 200, "{body}");
}

fn get(host: &Host, key: &str) -> serde_json::Value {
    host.post("/probe-owner", json!({"op": "get", "table": "t", "key": key})).1["ok"].clone()
}

fn a_restart_serves_the_same_workflows_and_data(store: Store) {
    let (host, data) = Host::start_on(store, &[PROBE]);
    set(&host, "a", 1);
    host.stop();
    let host = Host::start_in(&data, &[]).unwrap();
    assert!(host.logs().contains("/webhook/probe-owner"), "routes are listed at start-up");
    assert_eq!(get(&host, "a"), json!(1));
}

fn acknowledged_writes_survive_kill_9(store: Store) {
    let (host, data) = Host::start_on(store, &[PROBE]);
    for n in 0..20 {
        set(&host, &format!("k{n}"), n);
    }
    host.kill9();
    let host = Host::start_in(&data, &[]).unwrap();
    for n in 0..20 {
        assert_eq!(get(&host, &format!("k{n}")), json!(n), "k{n}");
    }
}

fn a_deploy_whose_path_is_taken_is_refused_and_nothing_changes(store: Store) {
    let (host, data) = Host::start_on(store, &[("kv-store", "examples/kv-store")]);
    host.stop();
    let err = Host::start_in(&data, &deploys(&[("clash", "tests/guests/path-clash")])).err().unwrap();
    assert!(err.contains("webhook POST /users is already served by workflow \"kv-store\""), "{err}");
    // The refused deploy left no trace: the old set serves as before.
    let host = Host::start_in(&data, &[]).unwrap();
    let (status, _) = host.post("/users", json!({"action": "list-users"}));
    assert_eq!(status, 200);
    assert!(!host.logs().contains("clash"), "{}", host.logs());
}

fn redeploying_an_id_replaces_its_component(store: Store) {
    let (host, data) = Host::start_on(store, &[("flow", "tests/guests/probe-owner")]);
    host.stop();
    let host = Host::start_in(&data, &deploys(&[("flow", "tests/guests/probe-reader")])).unwrap();
    let (status, _) = host.post("/probe-owner", json!({"op": "list-tables"}));
    assert_eq!(status, 404, "the old route went with the old component");
    let (status, _) = host.post("/probe-reader", json!({"op": "list-tables"}));
    assert_eq!(status, 200);
}

#[test]
fn serve_deploys_a_workflows_folder_by_building_it() {
    let folder = repo_root().join("tests/guests/probe-owner");
    let manifest = repo_root().join("tests/guests/probe-reader/Cargo.toml"); // a crate's Cargo.toml names its folder
    let data = tempfile::TempDir::new().unwrap();
    let args = [
        "--deploy".into(),
        format!("owner={}", folder.display()),
        "--deploy".into(),
        format!("reader={}", manifest.display()),
    ];
    let host = Host::start_with(data.path(), &args).unwrap();
    let (status, body) = host.post("/probe-owner", json!({"op": "list-tables"}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = host.post("/probe-reader", json!({"op": "list-tables"}));
    assert_eq!(status, 200, "{body}");
    assert!(host.logs().contains("deployed /"), "the built component's path is logged");
}

#[test]
fn bad_start_up_input_is_refused_with_a_clear_message() {
    let data = tempfile::TempDir::new().unwrap();
    let not_wasm = data.path().join("not.wasm");
    std::fs::write(&not_wasm, b"hello").unwrap();
    let empty = data.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let probe = guest("tests/guests/probe-owner");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--deploy".into(), "no-equals-sign".into()], "expected ID=FILE.wasm"),
        (vec!["--deploy".into(), format!("Bad_Id={}", probe.display())], "invalid workflow id \"Bad_Id\""),
        (vec!["--deploy".into(), "x=/no/such/file.wasm".into()], "could not read /no/such/file.wasm"),
        (vec!["--deploy".into(), format!("x={}", not_wasm.display())], "not a usable workflow component"),
        (vec!["--deploy".into(), format!("x={}", empty.display())], "holds no workflow: neither a Cargo.toml"),
        (vec!["--timeout".into(), "0".into()], "expected a number of seconds"),
        (vec!["--token".into(), " ".into()], "--token is empty"),
        (vec!["--store".into(), "mysql://x".into()], "expected a PostgreSQL URL"),
        (vec!["--store".into(), "postgres://x@127.0.0.1:1/x".into(), "--no-fsync".into()], "cannot be used with"),
        (
            vec!["--store".into(), "postgres://x@127.0.0.1:1/x".into()],
            "could not connect to PostgreSQL: error connecting to server: ",
        ),
    ];
    for (args, needle) in cases {
        let err = Host::start_with(&data.path().join("d"), &args).err().unwrap();
        assert!(err.contains(needle), "{args:?}: expected {needle:?} in\n{err}");
    }
}

#[test]
fn a_second_host_on_the_same_data_dir_is_refused() {
    let (_host, data) = Host::start(&[PROBE]);
    let err = Host::start_with(data.path(), &[]).err().unwrap();
    assert!(err.contains("is another floww using it?"), "{err}");
}

#[test]
fn build_prints_the_component_path_and_explains_failures() {
    let wasm = guest("examples/kv-store");
    assert_eq!(wasm.extension().unwrap(), "wasm");
    let err = failed_build("/no/such/crate");
    assert!(err.contains("/no/such/crate is not a folder with a workflow in it"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let err = failed_build(empty.path());
    assert!(err.contains("holds no workflow: neither a Cargo.toml (Rust) nor a package.json (TypeScript)"), "{err}");
    let err = failed_build(repo_root());
    assert!(err.contains("is a workspace, not a crate"), "{err}");
}

#[test]
fn every_command_has_help() {
    for args in [&["--help"][..], &["serve", "--help"], &["dev", "--help"], &["build", "--help"]] {
        let out = run_floww(args);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: floww"), "{args:?}: {text}");
    }
    let serve = String::from_utf8_lossy(&run_floww(&["serve", "--help"]).stdout).into_owned();
    for flag in ["--listen", "--data-dir", "--deploy", "--timeout", "--memory-mib", "--body-limit"] {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
}

on_each_store!(
    a_restart_serves_the_same_workflows_and_data,
    acknowledged_writes_survive_kill_9,
    a_deploy_whose_path_is_taken_is_refused_and_nothing_changes,
    redeploying_an_id_replaces_its_component,
);
