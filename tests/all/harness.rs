//! Test harness: builds guest crates with the real `floww build`, starts the
//! real `floww serve` on port 0 with a temporary data dir (and, for the tests
//! that run on every store, a PostgreSQL database of its own), and talks HTTP
//! to it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use floww_host::kv::{Access, Backend, PostgresBackend, Range, SledBackend};
use floww_host::storage::{Database, ScratchDatabase};
use serde_json::Value;
use tempfile::TempDir;

pub fn floww() -> Command {
    Command::new(env!("CARGO_BIN_EXE_floww"))
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent").to_path_buf()
}

/// Runs `floww` with `args` to completion.
pub fn run_floww(args: &[&str]) -> Output {
    floww().args(args).stdin(Stdio::null()).output().expect("run floww")
}

/// What `floww build DIR` says on stderr when it fails, as it must: then
/// it prints no component path.
pub fn failed_build(dir: impl AsRef<std::path::Path>) -> String {
    let out = floww().arg("build").arg(dir.as_ref()).stdin(Stdio::null()).output().expect("run floww build");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the build should fail: {stderr}");
    assert!(out.stdout.is_empty(), "no component path on failure: {}", String::from_utf8_lossy(&out.stdout));
    stderr
}

/// The component built from the guest crate at `dir` (relative to the repo
/// root), built once per test run with `floww build`.
pub fn guest(dir: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(dir) {
        return path.clone();
    }
    let out = floww().arg("build").arg(repo_root().join(dir)).output().expect("run floww build");
    assert!(out.status.success(), "floww build {dir} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8 path");
    let path = PathBuf::from(stdout.trim());
    assert!(path.is_file(), "floww build printed {path:?}, which is not a file");
    built.insert(dir.to_owned(), path.clone());
    path
}

/// A running `floww serve`; killed (and its logs printed) on drop.
pub struct Host {
    child: Child,
    pub url: String,
    logs: Arc<Mutex<String>>,
    client: reqwest::blocking::Client,
}

/// `--deploy` arguments for `(workflow id, guest crate dir)` pairs.
pub fn deploys(workflows: &[(&str, &str)]) -> Vec<String> {
    workflows.iter().flat_map(|(id, dir)| ["--deploy".to_owned(), format!("{id}={}", guest(dir).display())]).collect()
}

impl Host {
    /// Starts a host on a fresh data dir that lives as long as the test.
    pub fn start(workflows: &[(&str, &str)]) -> (Host, TempDir) {
        let data = TempDir::new().expect("temp dir");
        let host = Host::start_with(data.path(), &deploys(workflows)).expect("host starts");
        (host, data)
    }

    /// Starts a host on a fresh data dir with `flags` after the deploys,
    /// e.g. `["--timeout", "2"]`.
    pub fn start_with_flags(workflows: &[(&str, &str)], flags: &[&str]) -> (Host, TempDir) {
        let data = TempDir::new().expect("temp dir");
        let mut args = deploys(workflows);
        args.extend(flags.iter().map(|flag| flag.to_string()));
        let host = Host::start_with(data.path(), &args).expect("host starts");
        (host, data)
    }

    /// Starts a host on `store`, deploying `workflows`; returns the store so
    /// the test can restart on it or look inside.
    pub fn start_on(store: Store, workflows: &[(&str, &str)]) -> (Host, Store) {
        let host = Host::start_in(&store, &deploys(workflows)).expect("host starts");
        (host, store)
    }

    /// Starts `floww serve` on `store` with extra arguments.
    pub fn start_in(store: &Store, args: &[String]) -> Result<Host, String> {
        let mut all = store.args();
        all.extend_from_slice(args);
        Host::start_with(store.path(), &all)
    }

    /// Starts `floww serve` on `data_dir` with extra arguments; on failure
    /// returns everything the process printed.
    pub fn start_with(data_dir: &Path, args: &[String]) -> Result<Host, String> {
        Host::launch(floww(), "serve", "127.0.0.1:0", data_dir, args, &[])
    }

    /// Starts `floww serve` listening on `listen` (e.g. the port of a host
    /// that has stopped) on `data_dir`.
    pub fn start_at(listen: &str, data_dir: &Path) -> Result<Host, String> {
        Host::launch(floww(), "serve", listen, data_dir, &[], &[])
    }

    /// Starts `floww serve` on a fresh data dir as [`start_with_flags`](Host::start_with_flags)
    /// does, with the process's file limit (soft and hard) set to `files`.
    pub fn start_with_file_limit(files: u64, workflows: &[(&str, &str)], flags: &[&str]) -> (Host, TempDir) {
        let data = TempDir::new().expect("temp dir");
        let mut args = deploys(workflows);
        args.extend(flags.iter().map(|flag| flag.to_string()));
        let mut prlimit = Command::new("prlimit");
        prlimit.arg(format!("--nofile={files}:{files}")).arg("--").arg(env!("CARGO_BIN_EXE_floww"));
        let host = Host::launch(prlimit, "serve", "127.0.0.1:0", data.path(), &args, &[]).expect("host starts");
        (host, data)
    }

    /// Starts `floww dev CRATE_DIR` on `data_dir` with extra environment.
    pub fn dev_with_env(crate_dir: &Path, data_dir: &Path, env: &[(&str, &str)]) -> Result<Host, String> {
        Host::launch(floww(), "dev", "127.0.0.1:0", data_dir, &[crate_dir.display().to_string()], env)
    }

    /// Runs `<floww> <command> --listen LISTEN --data-dir DATA_DIR ARGS…`
    /// until it prints its readiness line.
    fn launch(
        mut floww: Command,
        command: &str,
        listen: &str,
        data_dir: &Path,
        args: &[String],
        env: &[(&str, &str)],
    ) -> Result<Host, String> {
        let mut child = floww
            .args([command, "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn floww serve");
        let logs = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stdout_logs = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                stdout_logs.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(url) = line.strip_prefix("Serving ") {
                    let _ = ready_tx.send(url.to_owned());
                }
            }
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let stderr_logs = logs.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                stderr_logs.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let client =
            reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().expect("http client");
        match ready_rx.recv_timeout(Duration::from_secs(300)) {
            Ok(url) => Ok(Host { child, url, logs, client }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().expect("wait");
                // Let the reader threads drain what is left.
                std::thread::sleep(Duration::from_millis(100));
                Err(format!("floww {command} did not start ({status}):\n{}", logs.lock().unwrap()))
            }
        }
    }

    /// Sends `method` to `/webhook<path>` with a raw body.
    pub fn send(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = self
            .client
            .request(method, format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .expect("request reaches the host");
        let status = response.status().as_u16();
        let text = response.text().expect("body");
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text:?}"));
        (status, json)
    }

    /// POSTs JSON to `/webhook<path>`.
    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", &format!("/webhook{path}"), body.to_string().into_bytes())
    }

    /// A request for `method` on `path` (from the root: `/webhook/…`), for a
    /// test that sets its own query, headers or body; send it with [`answer`].
    pub fn request(&self, method: &str, path: &str) -> reqwest::blocking::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// The port the host listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().and_then(|port| port.parse().ok()).expect("the URL ends in a port")
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Whether `needle` shows up in the host's output within a few seconds:
    /// stderr may trail the readiness line on stdout.
    pub fn logged(&self, needle: &str) -> bool {
        for _ in 0..100 {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops the host with SIGTERM and waits for it, as an operator would.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "host exited with {exit} after SIGTERM:\n{}", self.logs());
    }

    /// Kills the host with SIGKILL: no chance to flush anything.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }
}

/// A whole answer: status, headers and the body, which must be JSON.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

/// Sends a request made with [`Host::request`] and reads the whole answer.
pub fn answer(request: reqwest::blocking::RequestBuilder) -> Answer {
    let response = request.send().expect("request reaches the host");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let text = response.text().expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text:?}"));
    Answer { status, headers, json }
}

/// One table as it is on disk: its owner, grants and items (key → JSON text).
#[derive(Debug, PartialEq, Eq)]
pub struct StoredTable {
    pub owner: String,
    pub grants: Vec<(String, Access)>,
    pub items: BTreeMap<String, String>,
}

/// Everything in the KV store of a data dir, read straight from disk once the
/// host that used it has stopped: table name → its contents.
pub fn stored_tables(data_dir: &Path) -> BTreeMap<String, StoredTable> {
    tables_in(&SledBackend::open(&data_dir.join("kv"), false).expect("open the stopped host's KV store"))
}

fn tables_in(store: &dyn Backend) -> BTreeMap<String, StoredTable> {
    let everything = Range { prefix: "", after: None, limit: usize::MAX, max_bytes: usize::MAX };
    let tables = store.tables().expect("list tables");
    tables
        .into_iter()
        .map(|(name, owner)| {
            let grants = store.grants(&name).expect("grants");
            // Read as of now: items that expired are gone for every caller.
            let items = store.items(&name, everything, now_ms()).expect("items");
            let items = items.entries.into_iter().map(|item| (item.key, item.value)).collect();
            (name, StoredTable { owner, grants, items })
        })
        .collect()
}

/// Where a host keeps its state: a data dir, and on PostgreSQL a database
/// made for the test (dropped when the last store using it goes).
pub struct Store {
    dir: TempDir,
    database: Option<Arc<ScratchDatabase>>,
}

impl Store {
    /// sled in the data dir.
    pub fn sled() -> Store {
        Store { dir: TempDir::new().expect("temp dir"), database: None }
    }

    /// A fresh database on the server `FLOWW_TEST_POSTGRES` names.
    pub fn postgres() -> Store {
        Store { dir: TempDir::new().expect("temp dir"), database: Some(Arc::new(ScratchDatabase::create())) }
    }

    /// Another host's place on the same database: its own data dir.
    pub fn another_host(&self) -> Store {
        assert!(self.database.is_some(), "hosts share a store only on PostgreSQL");
        Store { dir: TempDir::new().expect("temp dir"), database: self.database.clone() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `--store` URL, on PostgreSQL.
    pub fn url(&self) -> Option<String> {
        self.database.as_ref().map(|db| db.url())
    }

    fn args(&self) -> Vec<String> {
        self.url().map(|url| vec!["--store".to_owned(), url]).into_iter().flatten().collect()
    }

    /// Everything in the KV store, read straight from storage once the host
    /// that used it has stopped.
    pub fn tables(&self) -> BTreeMap<String, StoredTable> {
        match self.url() {
            None => stored_tables(self.path()),
            Some(url) => {
                let db = Database::connect(&url, 2).expect("connect to the test database");
                tables_in(&PostgresBackend::new(Arc::new(db)))
            }
        }
    }
}

/// Makes each named test `fn(Store)` a test on sled and one on PostgreSQL,
/// as `<module>::sled::<name>` and `<module>::postgres::<name>`.
macro_rules! on_each_store {
    ($($test:ident),* $(,)?) => {
        mod sled {
            $(#[test]
            fn $test() {
                super::$test($crate::harness::Store::sled());
            })*
        }
        mod postgres {
            $(#[test]
            fn $test() {
                super::$test($crate::harness::Store::postgres());
            })*
        }
    };
}
pub(crate) use on_each_store;

/// Waits (bounded) until `done` holds, polling.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Shown by the test runner only when the test fails.
        println!("--- floww logs ---\n{}", self.logs());
    }
}
