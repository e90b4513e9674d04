//! The admin API on a running host: deploy, redeploy, undeploy, the token
//! that guards it, and the `floww deploy | workflows | undeploy` commands.

use std::path::Path;

use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};

use crate::harness::{Answer, Host, answer, guest, run_floww};

pub fn token(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("admin-token")).expect("the host wrote its token")
}

/// An admin request with the host's own token.
pub fn api(host: &Host, data_dir: &Path, method: &str, path: &str) -> RequestBuilder {
    host.request(method, &format!("/api{path}")).bearer_auth(token(data_dir))
}

fn deploy(host: &Host, data_dir: &Path, id: &str, guest_dir: &str) -> Answer {
    let bytes = std::fs::read(guest(guest_dir)).unwrap();
    answer(api(host, data_dir, "PUT", &format!("/workflows/{id}")).body(bytes))
}

fn workflow_ids(host: &Host, data_dir: &Path) -> Value {
    let list = answer(api(host, data_dir, "GET", "/workflows")).json;
    list["workflows"].as_array().unwrap().iter().map(|w| w["id"].clone()).collect()
}

#[test]
fn deploy_redeploy_and_undeploy_on_a_running_host() {
    let (host, data) = Host::start(&[]);
    let d = data.path();
    let created = deploy(&host, d, "kv-store", "examples/kv-store");
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(created.json["triggers"][0]["url"], format!("{}/webhook/users", host.url));
    assert_eq!(created.json["sha256"].as_str().unwrap().len(), 64);
    let user = json!({"action": "create-user", "userId": "u1", "name": "Ann", "email": "a@example.com"});
    assert_eq!(host.post("/users", user).0, 201);

    let listed = answer(api(&host, d, "GET", "/workflows/kv-store"));
    assert_eq!((listed.status, &listed.json["id"]), (200, &json!("kv-store")));
    assert_eq!(workflow_ids(&host, d), json!(["kv-store"]));

    // A redeploy under the same id swaps the component: old routes go, new ones come.
    let replaced = deploy(&host, d, "kv-store", "tests/guests/probe-owner");
    assert_eq!(replaced.status, 200, "{}", replaced.json);
    assert_eq!(host.post("/users", json!({"action": "list-users"})).0, 404);
    assert_eq!(
        host.post("/probe-owner", json!({"op": "list-tables"})).1["ok"],
        json!(["users"]),
        "same id, same tables"
    );

    let gone = answer(api(&host, d, "DELETE", "/workflows/kv-store"));
    assert_eq!((gone.status, &gone.json["undeployed"]), (200, &json!(true)));
    assert_eq!(host.post("/probe-owner", json!({"op": "list-tables"})).0, 404, "its webhooks answer 404 at once");
    let again = answer(api(&host, d, "DELETE", "/workflows/kv-store"));
    assert_eq!((again.status, again.json["error"].as_str()), (404, Some("no workflow \"kv-store\" is deployed")));
    let missing = answer(api(&host, d, "GET", "/workflows/kv-store"));
    assert_eq!(missing.status, 404);

    // Its tables stayed, owned by the id: deploying it again finds them.
    deploy(&host, d, "kv-store", "examples/kv-store");
    let (status, body) = host.post("/users", json!({"action": "get-user", "userId": "u1"}));
    assert_eq!((status, &body["user"]["name"]), (200, &json!("Ann")));
}

/// The code cache only saves time: a host that cannot write it compiles,
/// deploys and serves all the same, and says why the cache stays empty.
#[test]
fn a_deploy_works_when_the_code_cache_cannot_be_written() {
    let (host, data) = Host::start(&[]);
    let d = data.path();
    let cache = d.join("cache");
    std::fs::remove_dir_all(&cache).unwrap();
    std::fs::write(&cache, b"no longer a folder").unwrap();
    let created = deploy(&host, d, "kv-store", "examples/kv-store");
    assert_eq!(created.status, 201, "{}", created.json);
    let user = json!({"action": "create-user", "userId": "u1", "name": "Ann", "email": "a@example.com"});
    assert_eq!(host.post("/users", user).0, 201);
    let logs = host.logs();
    assert!(logs.contains(&format!("could not cache compiled code in {}/", cache.display())), "{logs}");
}

#[test]
fn refused_deploys_leave_the_running_set_unchanged() {
    let (host, data) = Host::start(&[("kv-store", "examples/kv-store")]);
    let d = data.path();
    let bad = answer(api(&host, d, "PUT", "/workflows/junk").body(b"not wasm".to_vec()));
    assert_eq!(bad.status, 400);
    assert!(bad.json["error"].as_str().unwrap().starts_with("not a usable workflow component"), "{}", bad.json);

    let clash = deploy(&host, d, "clash", "tests/guests/path-clash");
    assert_eq!(clash.status, 409);
    assert_eq!(clash.json["error"], "webhook POST /users is already served by workflow \"kv-store\"");

    let bad_id = deploy(&host, d, "Not_An_Id", "tests/guests/probe-owner");
    assert_eq!(bad_id.status, 400);
    assert!(bad_id.json["error"].as_str().unwrap().contains("invalid workflow id \"Not_An_Id\""), "{}", bad_id.json);

    let bytes = std::fs::read(guest("tests/guests/probe-owner")).unwrap();
    let bad_timeout = answer(api(&host, d, "PUT", "/workflows/p?timeout=-1").body(bytes));
    assert_eq!(
        (bad_timeout.status, bad_timeout.json["error"].as_str()),
        (400, Some("timeout must be between 0 and 3600 seconds"))
    );

    assert_eq!(workflow_ids(&host, d), json!(["kv-store"]));
    assert_eq!(host.post("/users", json!({"action": "list-users"})).0, 200);
}

#[test]
fn a_missing_or_wrong_token_gets_401_and_changes_nothing() {
    let (host, data) = Host::start(&[("kv-store", "examples/kv-store")]);
    // A small body: the host answers 401 without reading an upload, and a
    // client still sending a large one would see the connection close.
    let bytes = b"\0asm".to_vec();
    let attempts = [
        host.request("PUT", "/api/workflows/other").body(bytes.clone()),
        host.request("PUT", "/api/workflows/other").bearer_auth("wrong").body(bytes),
        host.request("DELETE", "/api/workflows/kv-store").bearer_auth(format!("{}x", token(data.path()))),
        host.request("GET", "/api/workflows").header("authorization", token(data.path())),
        host.request("GET", "/api/kv/kv-store"),
    ];
    for request in attempts {
        let a = answer(request);
        assert_eq!(a.status, 401, "{}", a.json);
        assert_eq!(a.headers["www-authenticate"], "Bearer");
        assert!(a.json["error"].as_str().unwrap().starts_with("missing or wrong admin token"), "{}", a.json);
    }
    assert_eq!(workflow_ids(&host, data.path()), json!(["kv-store"]));
}

#[test]
fn a_per_workflow_timeout_overrides_the_hosts() {
    let (host, data) = Host::start(&[]);
    let bytes = std::fs::read(guest("tests/guests/hostile")).unwrap();
    let a = answer(api(&host, data.path(), "PUT", "/workflows/hostile?timeout=1").body(bytes));
    assert_eq!((a.status, &a.json["timeoutMs"]), (201, &json!(1000)));
    let (status, body) = host.post("/hostile/loop", json!({}));
    assert_eq!(status, 504);
    assert!(body["error"].as_str().unwrap().contains("ran past its 1s limit"), "{body}");
}

#[test]
fn compiled_code_is_cached_so_a_restart_does_not_compile() {
    let (host, data) = Host::start(&[("kv-store", "examples/kv-store")]);
    host.stop();
    let cached = std::fs::read_dir(data.path().join("cache")).unwrap().count();
    assert_eq!(cached, 1, "one compiled component in the cache");
    let host = Host::start_with(data.path(), &[]).unwrap();
    assert!(host.logged("loaded from the compiled cache"), "{}", host.logs());
    assert!(!host.logs().contains("compiling"), "{}", host.logs());
    assert_eq!(host.post("/users", json!({"action": "list-users"})).0, 200);
}

#[test]
fn the_cli_deploys_lists_and_undeploys() {
    let (host, data) = Host::start(&[]);
    let wasm = guest("tests/guests/probe-owner");
    let client = ["--host", &host.url, "--data-dir", data.path().to_str().unwrap()];
    let run = |args: &[&str]| {
        let out = run_floww(&[args, &client].concat());
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&["deploy", wasm.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("Deployed probe-owner ("), "{stdout}");
    assert!(stdout.contains(&format!("POST   {}/webhook/probe-owner", host.url)), "{stdout}");

    let (ok, stdout, _) = run(&["workflows"]);
    assert!(ok && stdout.starts_with("probe-owner  ("), "{stdout}");

    let (ok, stdout, _) = run(&["undeploy", "probe-owner"]);
    assert!(ok && stdout.contains("Undeployed probe-owner"), "{stdout}");
    let (ok, _, stderr) = run(&["undeploy", "probe-owner"]);
    assert!(!ok);
    assert!(stderr.contains("404 Not Found: no workflow \"probe-owner\" is deployed"), "{stderr}");

    let out = run_floww(&["workflows", "--host", &host.url, "--token", "wrong"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused the admin token given with --token or FLOWW_TOKEN"), "{stderr}");
    let out = run_floww(&["workflows", "--host", &host.url, "--data-dir", "/no/such/dir"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no admin token: pass --token"));
}
