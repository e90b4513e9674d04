//! `floww new` and `floww dev`: a new crate builds, serves and passes its
//! own test; saved edits swap in without a failed request; a build error
//! keeps the last good version live.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::harness::{Host, failed_build, repo_root, run_floww, wait_for};

/// Builds of generated crates share one target dir, kept between runs.
fn shared_target() -> PathBuf {
    repo_root().join("target/floww-new-tests")
}

fn new_crate(parent: &Path, name: &str) -> PathBuf {
    let out = run_floww(&["new", name, "--dir", parent.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("floww dev"));
    parent.join(name)
}

#[test]
fn a_new_crate_builds_and_passes_its_own_test() {
    let dir = tempfile::TempDir::new().unwrap();
    let krate = new_crate(dir.path(), "my-flow");
    for file in ["Cargo.toml", "src/lib.rs", "README.md"] {
        assert!(krate.join(file).is_file(), "{file}");
    }
    let test = Command::new(env!("CARGO"))
        .args(["test", "--quiet", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", shared_target())
        .output()
        .unwrap();
    assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stderr));
    assert!(String::from_utf8_lossy(&test.stdout).contains("1 passed"));

    // `floww dev .` puts the data dir (with the admin token) in the crate.
    let ignored = std::fs::read_to_string(krate.join(".gitignore")).unwrap();
    assert_eq!(ignored.lines().collect::<Vec<_>>(), ["/target", "/.floww/"]);

    let again = run_floww(&["new", "my-flow", "--dir", dir.path().to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = run_floww(&["new", "My_Flow", "--dir", dir.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid workflow id \"My_Flow\""));
}

#[test]
fn dev_swaps_saved_edits_in_without_failing_a_request_and_survives_build_errors() {
    let dir = tempfile::TempDir::new().unwrap();
    let krate = new_crate(dir.path(), "hot");
    let data = dir.path().join("data");
    let host = Arc::new(
        Host::dev_with_env(&krate, &data, &[("CARGO_TARGET_DIR", shared_target().to_str().unwrap())]).unwrap(),
    );
    let visit = |host: &Host| host.post("/hot/visits", json!({"page": "home"}));
    assert_eq!(visit(&host).0, 200);

    // A steady stream of requests across the swap.
    let (stop, sent, failed) =
        (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let stream = std::thread::spawn({
        let (host, stop, sent, failed) = (host.clone(), stop.clone(), sent.clone(), failed.clone());
        move || {
            while !stop.load(Ordering::SeqCst) {
                let (status, body) = visit(&host);
                sent.fetch_add(1, Ordering::SeqCst);
                if status != 200 || body["page"] != "home" {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });

    let lib = krate.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let edited = source.replace(
        r#"json!({ "page": page, "visits": visits })"#,
        r#"json!({ "page": page, "visits": visits, "version": 2 })"#,
    );
    assert_ne!(edited, source, "the template has the line this test edits");
    std::fs::write(&lib, &edited).unwrap();
    wait_for("the new version", Duration::from_secs(300), || visit(&host).1["version"] == 2);
    stop.store(true, Ordering::SeqCst);
    stream.join().unwrap();
    assert!(sent.load(Ordering::SeqCst) > 0);
    assert_eq!(failed.load(Ordering::SeqCst), 0, "no request failed across the swap");
    assert!(host.logged("Reloaded hot"), "{}", host.logs());

    // A build error: the compiler's message is shown, the last good version stays.
    std::fs::write(&lib, format!("{edited}\nfn broken( {{")).unwrap();
    wait_for("the build error", Duration::from_secs(300), || {
        host.logs().contains("Still serving the last good version")
    });
    assert!(host.logs().contains("error"), "{}", host.logs());
    let (status, body) = visit(&host);
    assert_eq!((status, &body["version"]), (200, &json!(2)));
    let visits = body["visits"].as_u64().unwrap();
    assert!(visits > 2, "KV data stayed across the swap: {body}");
}

/// The template counts with `increment`: visits at the same moment are each
/// counted, and a page that names nothing is the handler's own 422.
#[test]
fn the_template_counts_every_concurrent_visit_once() {
    let dir = tempfile::TempDir::new().unwrap();
    let krate = new_crate(dir.path(), "counted");
    let built = Command::new(env!("CARGO_BIN_EXE_floww"))
        .arg("build")
        .arg(&krate)
        .env("CARGO_TARGET_DIR", shared_target())
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let wasm = String::from_utf8(built.stdout).unwrap().trim().to_owned();
    let data = tempfile::TempDir::new().unwrap();
    let host = Host::start_with(data.path(), &["--deploy".into(), format!("counted={wasm}")]).unwrap();
    let mut seen: Vec<u64> = std::thread::scope(|scope| {
        let visits: Vec<_> = (0..100)
            .map(|_| {
                scope.spawn(|| {
                    let (status, body) = host.post("/counted/visits", json!({"page": "home"}));
                    assert_eq!(status, 200, "{body}");
                    body["visits"].as_u64().unwrap()
                })
            })
            .collect();
        visits.into_iter().map(|visit| visit.join().unwrap()).collect()
    });
    seen.sort_unstable();
    assert_eq!(seen, (1..=100).collect::<Vec<u64>>(), "each visit counted once");
    let (status, body) = host.post("/counted/visits", json!({"page": "  "}));
    assert_eq!((status, &body["error"]), (422, &json!("page must name a page, e.g. \"home\"")), "{body}");
}

/// `floww new` writes a crate that depends on the SDK the binary carries,
/// written to the user's cache: it builds with no checkout at hand.
#[test]
fn a_new_crate_depends_on_the_sdk_the_binary_carries_not_the_checkout() {
    let (cache, dir) = (tempfile::TempDir::new().unwrap(), tempfile::TempDir::new().unwrap());
    let floww_with_cache = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_floww"))
            .args(args)
            .env("XDG_CACHE_HOME", cache.path())
            .env("CARGO_TARGET_DIR", shared_target())
            .output()
            .unwrap()
    };
    let out = floww_with_cache(&["new", "carried", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = std::fs::read_to_string(dir.path().join("carried/Cargo.toml")).unwrap();
    let sdk = cache.path().join("floww").display().to_string();
    assert!(manifest.contains(&format!("floww = {{ package = \"floww-sdk\", path = \"{sdk}/sdk-")), "{manifest}");
    assert!(!manifest.contains(&repo_root().display().to_string()), "{manifest}");
    let built = floww_with_cache(&["build", dir.path().join("carried").to_str().unwrap()]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));

    for (name, why) in
        [("1flow", "cargo wants a name that starts with a letter"), ("floww", "the crate or its dependencies use it")]
    {
        let refused = floww_with_cache(&["new", name, "--dir", dir.path().to_str().unwrap()]);
        assert!(!refused.status.success(), "{name}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains(why),
            "{name}: {}",
            String::from_utf8_lossy(&refused.stderr)
        );
        assert!(!dir.path().join(name).exists(), "nothing written for {name}");
    }
}

/// A crate that took the crates.io `floww` (an unrelated crate) is told so.
#[test]
fn floww_build_says_when_a_crates_floww_is_not_the_sdk() {
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    let manifest = "[package]\nname = \"confused\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                    [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nfloww = \"0.1\"\n";
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
    let stderr = failed_build(dir.path());
    assert!(stderr.contains("depends on the crates.io package `floww`, which is not the Floww SDK"), "{stderr}");
    assert!(stderr.contains("floww = { package = \"floww-sdk\""), "{stderr}");
}
