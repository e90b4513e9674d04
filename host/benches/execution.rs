//! Per-execution cost, measured in-process through the runtime of a host
//! opened as `floww serve` opens one (no HTTP): `cargo bench -p floww-host
//! --bench execution`.
//!
//! - `execution/noop`: a fresh store and instance of `bench/guests/noop`, one
//!   `handle-webhook` call, and the drop: what every webhook request pays.
//! - `execution/kv_store_get_user`: the same for the kv-store example's
//!   `get-user` (request JSON parsed in the guest, one `get`, a JSON answer):
//!   the runtime's share of `bench/http.sh`'s `get-user`.
//! - `…_reused`: the same two with instance reuse (`--instance-reuse`): one
//!   warm instance serves them all.
//! - `kv_get_10k/{wasm,native}`: 10,000 `get`s of a small JSON value, made by
//!   `bench/guests/kv-gets` through the WIT `kv` import, and made natively
//!   with `Kv::get` on the same sled store.
//! - With `FLOWW_TEST_POSTGRES` naming a server (`bench/postgres.sh` starts
//!   one), the summary adds get-user and 1,000 `get`s on a PostgreSQL store.
//!
//! Criterion reports means; `summary` then times single runs to print the
//! median and tail of each, and the wasm/native ratio. The guests are built
//! with `floww build` first. Run by hand only: nothing in CI runs benchmarks.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use floww_host::bindings::Request;
use floww_host::host::{Config, Host};
use floww_host::registry::Deployment;
use floww_host::runtime::Job;
use floww_host::storage::ScratchDatabase;

/// The workflow id the guests run as; it owns table `t`.
const CALLER: &str = "bench";
/// The value `kv-gets` reads: a small JSON object.
const VALUE: &str = r#"{"id":"user-123","name":"John Doe","email":"john@example.com","createdAt":1700000000000}"#;
const GETS: usize = 10_000;
/// Executions one instance serves in the `_reused` runs: all of them.
const REUSED: u32 = u32::MAX;

struct Bench {
    /// Drives the async executions, on this thread as the host's workers do.
    rt: tokio::runtime::Runtime,
    host: Host,
    noop: Arc<Deployment>,
    kv_gets: Arc<Deployment>,
    kv_store: Arc<Deployment>,
    _data: tempfile::TempDir,
}

/// Builds a guest crate under `bench/guests/` with `floww build`.
fn guest(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_floww")).arg("build").arg(&dir).output().expect("run floww build");
    assert!(out.status.success(), "floww build {name}: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).expect("a path").trim())
}

impl Bench {
    /// A host on sled, or on the PostgreSQL database `store` names.
    fn new(store: Option<String>) -> Self {
        let data = tempfile::tempdir().expect("a temp dir");
        let config = Config {
            data_dir: data.path().to_owned(),
            store,
            fsync: false,
            token: Some("bench".into()),
            ..Config::default()
        };
        let host = Host::open(&config).expect("open a host");
        host.kv.set(CALLER, "t", "k", VALUE).expect("seed the value");
        host.kv.set(CALLER, "users", "user-123", VALUE).expect("seed the user");
        let deploy =
            |id: &str, name| host.deploy(id, &std::fs::read(guest(name)).expect("read the component")).expect("deploy");
        let (noop, kv_gets) = (deploy("noop", "bench/guests/noop"), deploy("kv-gets", "bench/guests/kv-gets"));
        let kv_store = deploy("kv-store", "examples/kv-store");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        Self { rt, host, noop, kv_gets, kv_store, _data: data }
    }

    /// Runs `deployment`'s webhook to the end, as workflow `CALLER`, on an
    /// instance serving up to `reuse` executions; its answer must be a 200.
    fn run(&self, deployment: &Deployment, request: &Request, reuse: u32) {
        let job = Job {
            workflow_id: CALLER,
            execution_id: "e",
            timeout: None,
            allowlist: &deployment.manifest.allow_http,
            run: None,
            instance_reuse: Some(reuse),
        };
        let execution = self.host.runtime.run(&deployment.workflow, job, request);
        let execution = self.rt.block_on(execution);
        let response = execution.result.expect("the execution runs");
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    }

    fn noop(&self, request: &Request, reuse: u32) {
        self.run(&self.noop, request, reuse);
    }

    fn get_user(&self, request: &Request, reuse: u32) {
        self.run(&self.kv_store, request, reuse);
    }

    fn wasm_gets(&self, request: &Request) {
        self.run(&self.kv_gets, request, 1);
    }

    fn native_gets(&self, n: usize) {
        let mut bytes = 0;
        for _ in 0..n {
            bytes += black_box(self.host.kv.get(CALLER, "t", "k").expect("get")).value.len();
        }
        assert_eq!(bytes, n * VALUE.len());
    }
}

fn request(path: &str, query: &[(&str, &str)]) -> Request {
    Request {
        method: "POST".into(),
        path: path.into(),
        query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        headers: vec![],
        body: vec![],
    }
}

fn noop_request() -> Request {
    request("/bench/noop", &[])
}

fn get_user_request() -> Request {
    let mut request = request("/users", &[]);
    request.headers = vec![("content-type".into(), "application/json".into())];
    request.body = br#"{"action": "get-user", "userId": "user-123"}"#.to_vec();
    request
}

fn gets_request(n: usize) -> Request {
    request("/bench/gets", &[("n", &n.to_string())])
}

fn benches(c: &mut Criterion) {
    let bench = Bench::new(None);
    let (noop, gets) = (noop_request(), gets_request(GETS));

    let get_user = get_user_request();
    for (name, reuse) in [("", 1), ("_reused", REUSED)] {
        c.bench_function(&format!("execution/noop{name}"), |b| b.iter(|| bench.noop(&noop, reuse)));
        c.bench_function(&format!("execution/kv_store_get_user{name}"), |b| {
            b.iter(|| bench.get_user(&get_user, reuse))
        });
    }

    let mut group = c.benchmark_group("kv_get_10k");
    group.sample_size(30).measurement_time(Duration::from_secs(8));
    group.bench_function("wasm", |b| b.iter(|| bench.wasm_gets(&gets)));
    group.bench_function("native", |b| b.iter(|| bench.native_gets(GETS)));
    group.finish();

    summary(&bench);
    if std::env::var_os("FLOWW_TEST_POSTGRES").is_some() {
        let scratch = ScratchDatabase::create();
        let bench = Bench::new(Some(scratch.url()));
        get_user_summary(&bench, "postgres", 2_000, 1);
        kv_summary(&bench, "postgres", 1_000, 10);
    }
}

/// Times `runs` single runs of `f` after `warmup` untimed ones, sorted.
fn timed(warmup: usize, runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Median and tail latencies from single timed runs, and the KV ratio.
fn summary(bench: &Bench) {
    let noop = noop_request();
    for (name, reuse) in [("", 1), ("_reused", REUSED)] {
        let times = timed(2_000, 50_000, || bench.noop(&noop, reuse));
        println!(
            "summary execution/noop{name} (50,000 single runs): p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
            micros(pct(&times, 0.5)),
            micros(pct(&times, 0.9)),
            micros(pct(&times, 0.99)),
            micros(pct(&times, 0.999)),
            micros(*times.last().unwrap()),
        );
    }
    get_user_summary(bench, "sled", 20_000, 1);
    get_user_summary(bench, "sled", 20_000, REUSED);
    kv_summary(bench, "sled", GETS, 40);
}

fn get_user_summary(bench: &Bench, store: &str, runs: usize, reuse: u32) {
    let get_user = get_user_request();
    let times = timed(runs / 20, runs, || bench.get_user(&get_user, reuse));
    let name = if reuse > 1 { "_reused" } else { "" };
    println!(
        "summary execution/kv_store_get_user{name} on {store} ({runs} single runs): p50 {:.1} µs, p99 {:.1} µs",
        micros(pct(&times, 0.5)),
        micros(pct(&times, 0.99)),
    );
}

/// `gets` gets through WIT and natively, `runs` times each, interleaved so
/// drift on a shared machine hits both alike.
fn kv_summary(bench: &Bench, store: &str, gets: usize, runs: usize) {
    let request = gets_request(gets);
    let (mut wasm, mut native) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        wasm.extend(timed(0, 1, || bench.wasm_gets(&request)));
        native.extend(timed(0, 1, || bench.native_gets(gets)));
    }
    wasm.sort();
    native.sort();
    let (w, n) = (pct(&wasm, 0.5), pct(&native, 0.5));
    println!(
        "summary kv_get_{gets} on {store} (median of {runs} each): wasm {:.2} ms ({:.0} ns/get), native {:.2} ms ({:.0} ns/get), ratio {:.2}",
        w.as_secs_f64() * 1e3,
        w.as_nanos() as f64 / gets as f64,
        n.as_secs_f64() * 1e3,
        n.as_nanos() as f64 / gets as f64,
        w.as_secs_f64() / n.as_secs_f64(),
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

criterion_group!(execution, benches);

/// `FLOWW_BENCH_PROFILE=N` skips the measurements and runs N no-op
/// executions, for a profiler: `valgrind --tool=callgrind`, `perf record`.
fn main() {
    if let Some(runs) = std::env::var("FLOWW_BENCH_PROFILE").ok().and_then(|n| n.parse::<usize>().ok()) {
        let bench = Bench::new(None);
        let noop = noop_request();
        for _ in 0..runs {
            bench.noop(&noop, 1);
        }
        return;
    }
    execution();
    Criterion::default().configure_from_args().final_summary();
}
