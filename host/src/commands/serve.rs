use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::database::Database;
use crate::executions::{Executions, PostgresRecords, RecordStore, Retention, SledRecords};
use crate::http::auth::{load_or_create_token, token_path};
use crate::http::{AppState, HttpLimits, router};
use crate::kv::{Backend, Kv, PostgresBackend, SledBackend, check_workflow_id};
use crate::registry::{DeployOptions, DeploymentStore, FileDeployments, PostgresDeployments, Registry};
use crate::runtime::{Admission, Limits, Runtime};
use crate::scheduler::{FileTicks, PostgresTicks, Scheduler, Ticks};

/// Serve deployed workflows' webhooks at http://ADDR/webhook/<path>.
///
/// Workflows deployed before (in the data dir) are served again; `--deploy`
/// adds or replaces workflows at start-up.
#[derive(clap::Args)]
pub struct ServeCommand {
    /// Deploy a component at start-up as workflow ID (repeatable).
    #[arg(long = "deploy", value_name = "ID=FILE.wasm", value_parser = parse_deploy_arg)]
    deploy: Vec<(String, PathBuf)>,

    #[command(flatten)]
    serve: ServeOptions,
}

/// Options shared by every command that serves.
#[derive(clap::Args)]
pub struct ServeOptions {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "FLOWW_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,

    /// Folder for the KV data and deployed workflows (created if missing);
    /// with --store, it holds only the admin token and compiled code.
    #[arg(long, env = "FLOWW_DATA_DIR", default_value = ".floww")]
    data_dir: PathBuf,

    /// Keep KV data, deployments, execution records and cron ticks in
    /// PostgreSQL instead of the data dir, e.g. postgres://floww@db.internal/floww.
    /// Hosts given the same database serve the same workflows over the same data.
    #[arg(long, env = "FLOWW_STORE", value_name = "URL", value_parser = parse_store_url, hide_env_values = true)]
    store: Option<String>,

    /// Most connections to the --store database this host opens.
    #[arg(long, env = "FLOWW_STORE_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    store_connections: u32,

    /// Longest one execution may run before it is stopped, in seconds.
    #[arg(long, env = "FLOWW_TIMEOUT", default_value_t = 30.0, value_parser = parse_seconds)]
    timeout: f64,

    /// Most linear memory one execution may use, in MiB.
    #[arg(long, env = "FLOWW_MEMORY_MIB", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=4096))]
    memory_mib: u32,

    /// Largest webhook request body, in bytes; larger ones get 413.
    #[arg(long, env = "FLOWW_BODY_LIMIT", default_value_t = HttpLimits::default().request_body)]
    body_limit: usize,

    /// Largest response body a workflow may return, in bytes.
    #[arg(long, env = "FLOWW_RESPONSE_LIMIT", default_value_t = HttpLimits::default().response_body)]
    response_limit: usize,

    /// Executions that may run at once.
    #[arg(long, env = "FLOWW_MAX_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_concurrency: u32,

    /// Acknowledge KV writes before they reach the disk (faster; a crash may
    /// lose the last half second of writes).
    #[arg(long, env = "FLOWW_NO_FSYNC", conflicts_with = "store")]
    no_fsync: bool,

    /// The admin API's bearer token [default: generated into DATA_DIR/admin-token].
    #[arg(long, env = "FLOWW_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Days execution records are kept.
    #[arg(long, env = "FLOWW_KEEP_DAYS", default_value_t = 7)]
    keep_days: u32,

    /// Execution records kept per workflow (the newest).
    #[arg(long, env = "FLOWW_KEEP_EXECUTIONS", default_value_t = 1000)]
    keep_executions: usize,

    /// Requests that may wait for a free execution slot; beyond that: 503.
    #[arg(long, env = "FLOWW_MAX_QUEUE", default_value_t = 128)]
    max_queue: usize,
}

/// A component to deploy at start-up, read before anything is opened.
pub struct Deploy {
    id: String,
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Deploy {
    pub fn read(id: String, path: PathBuf) -> anyhow::Result<Self> {
        let bytes = std::fs::read(&path).with_context(|| format!("could not read {}", path.display()))?;
        Ok(Self { id, path, bytes })
    }
}

fn parse_deploy_arg(arg: &str) -> Result<(String, PathBuf), String> {
    let (id, path) = arg.split_once('=').ok_or("expected ID=FILE.wasm, e.g. kv-store=target/kv_store.wasm")?;
    check_workflow_id(id).map_err(|e| e.to_string())?;
    Ok((id.to_owned(), PathBuf::from(path)))
}

fn parse_store_url(arg: &str) -> Result<String, String> {
    if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
        Ok(arg.to_owned())
    } else {
        Err("expected a PostgreSQL URL, e.g. postgres://floww@localhost/floww (sled needs no --store)".into())
    }
}

fn parse_seconds(arg: &str) -> Result<f64, String> {
    match arg.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 3600.0 => Ok(s),
        _ => Err("expected a number of seconds between 0 and 3600, e.g. 30 or 0.5".into()),
    }
}

impl ServeCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let deploys =
            self.deploy.into_iter().map(|(id, path)| Deploy::read(id, path)).collect::<anyhow::Result<Vec<_>>>()?;
        let host = self.serve.open()?;
        for d in deploys {
            host.deploy(&d)?;
        }
        self.serve.serve(host)
    }
}

/// The host's parts, opened on the data dir, before it listens.
pub struct Host {
    pub registry: Arc<Registry>,
    pub runtime: Arc<Runtime>,
    kv: Arc<Kv>,
    token: String,
    executions: Arc<Executions>,
    ticks: Box<dyn Ticks>,
}

/// Where a host keeps its state: the data dir (sled and files), or PostgreSQL.
struct Stores {
    deployments: Box<dyn DeploymentStore>,
    kv: Arc<dyn Backend>,
    records: Box<dyn RecordStore>,
    ticks: Box<dyn Ticks>,
    database: Option<Arc<Database>>,
}

impl Host {
    /// Deploys `d`, or says why not.
    pub fn deploy(&self, d: &Deploy) -> anyhow::Result<()> {
        self.registry
            .deploy(&self.runtime, &d.id, &d.bytes, DeployOptions::default())
            .with_context(|| format!("could not deploy {} as {:?}", d.path.display(), d.id))?;
        tracing::info!(workflow = %d.id, "deployed {}", d.path.display());
        Ok(())
    }
}

impl ServeOptions {
    /// Opens the store (the data dir, or the `--store` database), the admin
    /// token, the runtime and the workflows deployed before; on PostgreSQL it
    /// also starts following deploys made through other hosts.
    pub fn open(&self) -> anyhow::Result<Host> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("could not create the data dir {}", self.data_dir.display()))?;
        let stores = self.open_stores()?;
        let registry = Arc::new(
            Registry::open(&self.data_dir, stores.deployments).context("could not open the workflow registry")?,
        );
        let retention = Retention {
            max_age: Duration::from_secs(u64::from(self.keep_days) * 24 * 60 * 60),
            per_workflow: self.keep_executions,
        };
        let executions = Arc::new(Executions::new(stores.records, retention));
        let kv = Arc::new(Kv::new(stores.kv, registry.clone()));
        every(SWEEP_EVERY, "floww-kv-expiry", &kv, |kv| kv.remove_expired().map_err(|e| e.to_string()));
        every(PRUNE_EVERY, "floww-prune", &executions, |ex| ex.prune().map_err(|e| e.to_string()));
        let token = match &self.token {
            Some(token) if !token.trim().is_empty() => token.clone(),
            Some(_) => bail!("--token is empty"),
            None => load_or_create_token(&self.data_dir).with_context(|| {
                format!("could not read or create the admin token {}", token_path(&self.data_dir).display())
            })?,
        };
        let limits = Limits {
            timeout: Duration::from_secs_f64(self.timeout),
            memory_bytes: self.memory_mib as usize * 1024 * 1024,
            concurrency: self.max_concurrency as usize,
        };
        let runtime =
            Runtime::new(kv.clone(), limits).map_err(|e| anyhow::anyhow!("could not start the wasm runtime: {e:#}"))?;
        let runtime = Arc::new(runtime);

        let loaded = registry.load(&runtime)?;
        if !loaded.is_empty() {
            tracing::info!("serving workflows deployed before: {}", loaded.join(", "));
        }
        if let Some(db) = stores.database {
            crate::registry::watch(db, &registry, runtime.clone());
        }
        Ok(Host { registry, runtime, kv, token, executions, ticks: stores.ticks })
    }

    fn open_stores(&self) -> anyhow::Result<Stores> {
        if let Some(url) = &self.store {
            let db = Arc::new(Database::connect(url, self.store_connections)?);
            return Ok(Stores {
                deployments: Box::new(PostgresDeployments::new(db.clone())),
                kv: Arc::new(PostgresBackend::new(db.clone())),
                records: Box::new(PostgresRecords::new(db.clone())),
                ticks: Box::new(PostgresTicks::new(db.clone())),
                database: Some(db),
            });
        }
        let deployments = FileDeployments::open(&self.data_dir).context("could not open the deployed workflows")?;
        let backend = SledBackend::open(&self.data_dir.join("kv"), !self.no_fsync).with_context(|| {
            format!("could not open the KV store in {} (is another floww using it?)", self.data_dir.display())
        })?;
        let records = SledRecords::new(backend.db()).context("could not open the execution records")?;
        let ticks = FileTicks::open(&self.data_dir).context("could not open the cron records")?;
        Ok(Stores {
            deployments: Box::new(deployments),
            kv: Arc::new(backend),
            records: Box::new(records),
            ticks: Box::new(ticks),
            database: None,
        })
    }

    /// Serves `host` until Ctrl-C or SIGTERM.
    pub fn serve(self, host: Host) -> anyhow::Result<()> {
        let (registry, executions) = (host.registry.clone(), host.executions.clone());
        let admission = Arc::new(Admission::new(self.max_concurrency as usize, self.max_queue));
        let scheduler = Scheduler::new(
            host.registry.clone(),
            host.runtime.clone(),
            admission.clone(),
            host.executions.clone(),
            host.ticks,
        );
        let app = router(AppState {
            registry: host.registry,
            runtime: host.runtime,
            kv: host.kv,
            token: host.token.into(),
            executions: host.executions,
            admission,
            limits: HttpLimits { request_body: self.body_limit, response_body: self.response_limit },
        });
        let token_source = match self.token {
            Some(_) => "from --token".to_owned(),
            None => format!("in {}", token_path(&self.data_dir).display()),
        };
        let rt = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .with_context(|| format!("could not listen on {}", self.listen))?;
            let addr = listener.local_addr()?;
            let shutdown = shutdown_signal()?;
            let _scheduler = scheduler.start();
            // The readiness line comes last, so whoever waits for it has seen the routes.
            let deployed = registry.list();
            if deployed.is_empty() {
                println!("No workflows deployed yet: pass --deploy ID=FILE.wasm, or use `floww dev CRATE_DIR`.");
            }
            for d in deployed {
                for route in &d.manifest.routes {
                    println!("  {:<6} http://{addr}/webhook{}  ({})", route.method, route.path, d.manifest.id);
                }
                for cron in &d.manifest.crons {
                    println!("  CRON   {}  ({})", cron.schedule, d.manifest.id);
                }
                for manual in &d.manifest.manuals {
                    println!("  MANUAL floww invoke {} {} '<json>'", d.manifest.id, manual.name);
                }
            }
            println!("Admin API at http://{addr}/api/ (bearer token {token_source})");
            println!("Serving http://{addr}");
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
            if let Err(e) = executions.flush() {
                tracing::error!("could not write the last execution records: {e}");
            }
            tracing::info!("stopped");
            anyhow::Ok(())
        })
    }
}

/// How often expired KV items are removed from disk (they are invisible from
/// the moment they expire), and old execution records pruned.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Runs `work` on `target` every `period` on a thread of its own, for as
/// long as `target` lives.
fn every<T: Send + Sync + 'static>(
    period: Duration,
    name: &str,
    target: &Arc<T>,
    work: fn(&T) -> Result<usize, String>,
) {
    let target = Arc::downgrade(target);
    let thread_name = name.to_owned();
    let run = move || {
        while let Some(target) = target.upgrade() {
            if let Err(e) = work(&target) {
                tracing::warn!("{thread_name}: {e}");
            }
            drop(target);
            std::thread::sleep(period);
        }
    };
    std::thread::Builder::new().name(name.into()).spawn(run).expect("spawn a housekeeping thread");
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed here,
/// before the readiness line, so a signal right after it still shuts down
/// gracefully.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("could not handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("could not handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
