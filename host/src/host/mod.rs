//! A host, assembled: [`Config`] says where its state lives and its limits;
//! [`Host::open`] opens the stores (the data dir, or PostgreSQL), the admin
//! token, the runtime and the workflows deployed before, and starts the
//! background work (KV expiry sweep, record pruning, on PostgreSQL following
//! deploys made through other hosts); [`Host::serve`] serves a listener with
//! the scheduler running until told to stop. The CLI's `serve` and `dev`
//! only map flags to a `Config`; the benches and the in-process tests build
//! hosts the same way.

#[cfg(test)]
mod router_tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;

use crate::executions::{Executions, PostgresRecords, RecordStore, Retention, SledRecords};
use crate::executor::Executor;
use crate::http::auth::{load_or_create_token, token_path};
use crate::http::{AppState, ConnectionLimits, HttpLimits, RESERVED_FILES, router};
use crate::kv::{Backend, Kv, PostgresBackend, SledBackend};
use crate::registry::{
    DeployError, DeployOptions, Deployment, DeploymentStore, FileDeployments, PostgresDeployments, Registry,
};
use crate::runs::{PostgresRuns, RunStore, Runs, SledRuns};
use crate::runtime::{Limits, Runtime};
use crate::scheduler::{Dispatcher, FileTicks, PostgresTicks, Scheduler, Ticks};
use crate::secrets::{PostgresSecrets, SecretKey, SecretStore, Secrets, SledSecrets};
use crate::storage::Database;

/// Where a host keeps its state, and its limits.
/// Not `Debug`: it holds the admin token and the database URL.
#[derive(Clone)]
pub struct Config {
    /// KV data, deployments, records and ticks (with `store`: only the admin
    /// token and compiled code); created if missing.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL: keep KV data, deployments, records and ticks there.
    pub store: Option<String>,
    /// Most connections to the `store` database.
    pub store_connections: u32,
    /// Acknowledge KV writes only once they are on disk (sled).
    pub fsync: bool,
    /// The admin API's bearer token; `None`: read or create `DATA_DIR/admin-token`.
    pub token: Option<String>,
    /// The key sealing secrets, as 64 hex digits; `None`: read or create
    /// `DATA_DIR/secret-key`. Hosts sharing a `store` need the same one.
    pub secret_key: Option<String>,
    pub limits: Limits,
    /// Executions that may wait for a slot; beyond that, callers are turned away.
    pub max_queue: usize,
    pub http: HttpLimits,
    /// How long a client has to send a request's headers (and so how long
    /// an idle kept-alive connection stays open).
    pub header_timeout: Duration,
    /// Connections held at once; `None`: as many as the file limit allows.
    pub max_connections: Option<usize>,
    pub retention: Retention,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".floww"),
            store: None,
            store_connections: 16,
            fsync: true,
            token: None,
            secret_key: None,
            limits: Limits::default(),
            max_queue: 128,
            http: HttpLimits::default(),
            header_timeout: Duration::from_secs(10),
            max_connections: None,
            retention: Retention { max_age: Duration::from_secs(7 * 24 * 60 * 60), per_workflow: 1000 },
        }
    }
}

/// An open host, ready to serve.
pub struct Host {
    pub registry: Arc<Registry>,
    pub runtime: Arc<Runtime>,
    pub executor: Arc<Executor>,
    pub kv: Arc<Kv>,
    pub secrets: Arc<Secrets>,
    pub executions: Arc<Executions>,
    pub runs: Arc<Runs>,
    limits: Limits,
    token: Arc<str>,
    /// The dashboard's signed-in sessions.
    sessions: Arc<crate::http::Sessions>,
    http: HttpLimits,
    connections: ConnectionLimits,
    ticks: Box<dyn Ticks>,
}

/// Where a host keeps its state: the data dir (sled and files), or PostgreSQL.
struct Stores {
    deployments: Box<dyn DeploymentStore>,
    kv: Arc<dyn Backend>,
    records: Box<dyn RecordStore>,
    ticks: Box<dyn Ticks>,
    secrets: Arc<dyn SecretStore>,
    runs: Arc<dyn RunStore>,
    database: Option<Arc<Database>>,
}

/// How often expired KV items are removed from disk (they are invisible from
/// the moment they expire), and old execution records pruned.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long a run's lease outlasts the longest an invocation may take (its
/// wait for a slot, then its deadline): past it, another host takes the run over.
const RUN_LEASE_MARGIN: Duration = Duration::from_secs(10);

impl Host {
    /// Opens the host `config` describes, serving the workflows deployed before.
    pub fn open(config: &Config) -> anyhow::Result<Host> {
        let data_dir = &config.data_dir;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("could not create the data dir {}", data_dir.display()))?;
        let token = match &config.token {
            Some(token) if !token.trim().is_empty() => token.clone(),
            Some(_) => bail!("the admin token is empty"),
            None => load_or_create_token(data_dir).with_context(|| {
                format!("could not read or create the admin token {}", token_path(data_dir).display())
            })?,
        };
        let stores = open_stores(config)?;
        let key = match &config.secret_key {
            Some(hex) => SecretKey::from_hex(hex).map_err(|e| anyhow::anyhow!("--secret-key: {e}"))?,
            None => SecretKey::in_data_dir(data_dir)?,
        };
        let secrets = Arc::new(Secrets::open(stores.secrets, key)?);
        let executions = Arc::new(Executions::new(stores.records, config.retention));
        // The KV store asks the registry which workflows exist; the registry
        // is made after the runtime, which needs the KV store.
        let directory = Arc::new(crate::registry::Directory::default());
        let kv = Arc::new(Kv::new(stores.kv, directory.clone()));
        let runs = Arc::new(Runs::new(stores.runs, directory.clone()));
        let runtime = Runtime::new(kv.clone(), secrets.clone(), runs.clone(), config.limits, &data_dir.join("cache"))
            .map_err(|e| anyhow::anyhow!("could not start the wasm runtime: {e:#}"))?;
        let runtime = Arc::new(runtime);
        let registry = Arc::new(Registry::new(runtime.clone(), stores.deployments));
        directory.set(&registry);

        let loaded = registry.load()?;
        if !loaded.is_empty() {
            let ids: Vec<&str> = loaded.iter().map(|id| id.as_str()).collect();
            tracing::info!("serving workflows deployed before: {}", ids.join(", "));
        }
        if let Some(db) = stores.database {
            crate::registry::watch(db, &registry);
        }
        every(SWEEP_EVERY, "floww-kv-expiry", &kv, |kv| kv.remove_expired().map_err(|e| e.to_string()));
        every(PRUNE_EVERY, "floww-prune", &executions, |ex| ex.prune().map_err(|e| e.to_string()));
        every(PRUNE_EVERY, "floww-prune-runs", &runs, |runs| runs.prune().map_err(|e| e.to_string()));
        let concurrency = config.limits.concurrency;
        let executor = Arc::new(Executor::new(runtime.clone(), concurrency, config.max_queue, executions.clone()));
        every(crate::metrics::SAMPLE_EVERY, "floww-history", &executor, |executor| {
            crate::metrics::global().close_sample(executor.waiting(), executor.running());
            Ok(0)
        });
        Ok(Host {
            registry,
            runtime,
            executor,
            kv,
            secrets,
            executions,
            runs,
            limits: config.limits,
            token: token.into(),
            sessions: Arc::default(),
            http: config.http,
            connections: connection_limits(config)?,
            ticks: stores.ticks,
        })
    }

    /// Deploys (or redeploys) `id` from component bytes.
    pub fn deploy(&self, id: &str, bytes: &[u8]) -> Result<Arc<Deployment>, DeployError> {
        self.registry.deploy(id, bytes, DeployOptions::default())
    }

    /// The host's routes: webhooks, the admin API, metrics and health.
    pub fn router(&self) -> Router {
        router(AppState {
            registry: self.registry.clone(),
            executor: self.executor.clone(),
            kv: self.kv.clone(),
            secrets: self.secrets.clone(),
            runs: self.runs.clone(),
            token: self.token.clone(),
            sessions: self.sessions.clone(),
            executions: self.executions.clone(),
            limits: self.http,
        })
    }

    /// Serves `listener` with the scheduler running, until `shutdown`
    /// resolves and the requests under way have been answered; then writes
    /// the execution records still queued.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = self.router();
        let _scheduler = Scheduler::new(self.registry.clone(), self.executor.clone(), self.ticks).start();
        // Runs take at most half the slots, so webhooks always have the rest.
        let dispatcher = Dispatcher::start(
            self.registry.clone(),
            self.executor.clone(),
            self.runs.clone(),
            self.kv.clone(),
            self.limits.concurrency / 2,
            self.limits.timeout * 2 + RUN_LEASE_MARGIN,
        );
        tracing::info!(max_connections = self.connections.max_connections, "accepting connections");
        crate::http::serve(listener, app, self.connections, shutdown).await;
        dispatcher.stop().await;
        if let Err(e) = self.executions.flush() {
            tracing::error!("could not write the last execution records: {e}");
        }
        Ok(())
    }
}

/// The connection bounds `config` asks for; the cap, unless given, is what
/// the process's file limit leaves after the store's own descriptors.
fn connection_limits(config: &Config) -> anyhow::Result<ConnectionLimits> {
    let reserved = RESERVED_FILES + u64::from(config.store_connections);
    let files = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
    let room = ConnectionLimits::connections_for(files, reserved);
    let max_connections = match config.max_connections {
        None => room,
        Some(0) => bail!("the connection cap is 0: no client could connect"),
        Some(n) if n > room => {
            tracing::warn!("{n} connections asked for, but the file limit ({files}) leaves room for about {room}");
            n
        }
        Some(n) => n,
    };
    Ok(ConnectionLimits { header_timeout: config.header_timeout, max_connections })
}

fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    if let Some(url) = &config.store {
        let db = Arc::new(Database::connect(url, config.store_connections)?);
        return Ok(Stores {
            deployments: Box::new(PostgresDeployments::new(db.clone())),
            kv: Arc::new(PostgresBackend::new(db.clone())),
            records: Box::new(PostgresRecords::new(db.clone())),
            ticks: Box::new(PostgresTicks::new(db.clone())),
            secrets: Arc::new(PostgresSecrets::new(db.clone())),
            runs: Arc::new(PostgresRuns::new(db.clone())),
            database: Some(db),
        });
    }
    let data_dir = &config.data_dir;
    let deployments = FileDeployments::open(data_dir).context("could not open the deployed workflows")?;
    let backend = SledBackend::open(&data_dir.join("kv"), config.fsync).with_context(|| {
        format!("could not open the KV store in {} (is another floww using it?)", data_dir.display())
    })?;
    let records = SledRecords::new(backend.db()).context("could not open the execution records")?;
    let ticks = FileTicks::open(data_dir).context("could not open the cron records")?;
    let secrets = SledSecrets::new(backend.db()).context("could not open the secrets")?;
    let runs = SledRuns::open(backend.db()).context("could not open the durable runs")?;
    Ok(Stores {
        runs: Arc::new(runs),
        secrets: Arc::new(secrets),
        deployments: Box::new(deployments),
        kv: Arc::new(backend),
        records: Box::new(records),
        ticks: Box::new(ticks),
        database: None,
    })
}

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
