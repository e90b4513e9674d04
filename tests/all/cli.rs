//! The client commands and `serve` say what to do when something is off:
//! a host URL without its scheme, a wrong token, a server that is not
//! floww, an address in use, a bad timeout. And `HEAD` works where `GET` does;
//! a workflow answers `OPTIONS` itself or declares the origins it allows.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::harness::{Host, answer, run_floww};

const HOSTILE: (&str, &str) = ("hostile", "tests/guests/hostile");

fn stderr_of(args: &[&str]) -> String {
    let out = run_floww(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn client_commands_say_what_is_wrong_with_the_host_or_the_token() {
    let (host, data) = Host::start(&[]);
    let dir = data.path().to_str().unwrap();
    let no_scheme = stderr_of(&["workflows", "--host", "127.0.0.1:3000", "--data-dir", dir]);
    assert!(no_scheme.contains("expected the host's URL with its scheme, e.g. http://127.0.0.1:3000"), "{no_scheme}");

    let wrong = stderr_of(&["workflows", "--host", &host.url, "--token", "wrong"]);
    assert!(wrong.contains("refused the admin token given with --token or FLOWW_TOKEN"), "{wrong}");
    assert!(wrong.contains("point --data-dir at the host's data dir"), "{wrong}");

    // A server that is not floww: its page is named, not dumped.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", other.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = other.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let page = "<html><body>Welcome to nginx!</body></html>";
        let answer =
            format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}", page.len());
        stream.write_all(answer.as_bytes()).unwrap();
    });
    let html = stderr_of(&["workflows", "--host", &url, "--data-dir", dir]);
    server.join().unwrap();
    assert!(html.contains("is not floww's JSON: is --host a floww host?"), "{html}");
    assert!(!html.contains("nginx"), "{html}");
}

#[test]
fn serve_says_how_to_reach_it_and_what_to_do_when_its_address_is_taken() {
    let (host, data) = Host::start(&[]);
    let exported = format!("export FLOWW_HOST={} FLOWW_DATA_DIR={}", host.url, data.path().display());
    assert!(host.logged(&exported), "{}", host.logs());

    let other = tempfile::TempDir::new().unwrap();
    let address = host.url.trim_start_matches("http://");
    let taken = stderr_of(&["serve", "--listen", address, "--data-dir", other.path().to_str().unwrap()]);
    assert!(taken.contains("--listen 127.0.0.1:0 for any free port"), "{taken}");
    // `dev` says so before it builds anything.
    let krate = crate::harness::repo_root().join("examples/kv-store");
    let args = ["dev", krate.to_str().unwrap(), "--listen", address, "--data-dir", other.path().to_str().unwrap()];
    let taken = stderr_of(&args);
    assert!(taken.contains("could not listen on") && !taken.contains("Building"), "{taken}");

    let zero = stderr_of(&["serve", "--timeout", "0"]);
    assert!(zero.contains("expected a number of seconds above 0 and at most 3600"), "{zero}");
}

#[test]
fn head_runs_the_get_route_and_answers_without_a_body() {
    let (host, _data) = Host::start(&[HOSTILE]);
    let head = host.request("HEAD", "/webhook/hostile/echo").send().unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.text().unwrap(), "");
    let post_only = host.request("HEAD", "/webhook/hostile/panic").send().unwrap();
    assert_eq!(post_only.status(), 405, "HEAD stands in for GET only");
}

#[test]
fn a_workflow_answers_options_itself_or_declares_the_origins_it_allows() {
    let (host, _data) = Host::start(&[HOSTILE]);
    let from = |method: &str, path: &str, origin: &str| {
        host.request(method, path).header("origin", origin).header("access-control-request-method", "POST")
    };
    // The SDK answers the preflight of a path with no OPTIONS handler of its own.
    let preflight = from("OPTIONS", "/webhook/hostile/steal", "https://app.example.com").send().unwrap();
    assert_eq!(preflight.status(), 204);
    let header =
        |r: &reqwest::blocking::Response, name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header(&preflight, "access-control-allow-origin").as_deref(), Some("https://app.example.com"));
    assert_eq!(header(&preflight, "access-control-allow-methods").as_deref(), Some("POST"));
    let refused = answer(from("OPTIONS", "/webhook/hostile/steal", "https://evil.example"));
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.json["error"],
        "origin https://evil.example may not call this workflow: it allows https://app.example.com"
    );
    // A declared OPTIONS handler runs itself; answers to an allowed origin are marked.
    let own = from("OPTIONS", "/webhook/hostile/echo", "https://app.example.com").send().unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(header(&own, "access-control-allow-origin").as_deref(), Some("https://app.example.com"));
    assert_eq!(own.json::<serde_json::Value>().unwrap()["method"], "OPTIONS");
    let get = from("GET", "/webhook/hostile/echo", "https://evil.example").send().unwrap();
    assert_eq!((get.status().as_u16(), header(&get, "access-control-allow-origin")), (200, None));
}

#[test]
fn deploy_asks_for_an_id_when_a_file_name_gives_none_and_takes_a_crates_manifest() {
    let (host, data) = Host::start(&[]);
    let dir = data.path().to_str().unwrap();
    let odd = data.path().join("My_Flow.Copy.wasm");
    std::fs::write(&odd, b"\0asm").unwrap();
    let refused = stderr_of(&["deploy", odd.to_str().unwrap(), "--host", &host.url, "--data-dir", dir]);
    assert!(refused.contains("My_Flow.Copy.wasm gives no workflow id of its own: name one with --id"), "{refused}");

    let manifest = crate::harness::repo_root().join("examples/kv-store/Cargo.toml");
    let out = run_floww(&["deploy", manifest.to_str().unwrap(), "--host", &host.url, "--data-dir", dir]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Deployed kv-store ("));
}

#[test]
fn kv_takes_as_before_or_after_its_subcommand_and_asks_for_it_when_missing() {
    let (host, data) = Host::start(&[]);
    let client = ["--host", host.url.as_str(), "--data-dir", data.path().to_str().unwrap()];
    for args in [&["kv", "--as", "ops", "set", "t", "k", "1"][..], &["kv", "set", "t", "k", "2", "--as", "ops"][..]] {
        let out = run_floww(&[args, &client[..]].concat());
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let got = run_floww(&[&["kv", "get", "t", "k", "--as", "ops"][..], &client[..]].concat());
    let item: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(item["value"], 2);
    let missing = stderr_of(&[&["kv", "get", "t", "k"][..], &client[..]].concat());
    assert!(missing.contains("say which workflow to act as: --as WORKFLOW_ID"), "{missing}");

    // A typo in --as is named as one; a real workflow without the right still gets the 403.
    let typo = stderr_of(&[&["kv", "--as", "opz", "get", "t", "k"][..], &client[..]].concat());
    assert!(typo.contains("no workflow \"opz\" is deployed or owns a table: check --as"), "{typo}");
    let own = run_floww(&[&["kv", "--as", "other", "set", "mine", "k", "1"][..], &client[..]].concat());
    assert!(own.status.success(), "{}", String::from_utf8_lossy(&own.stderr));
    let denied = stderr_of(&[&["kv", "--as", "other", "get", "t", "k"][..], &client[..]].concat());
    assert!(denied.contains("403 Forbidden") && !denied.contains("check --as"), "{denied}");
}
