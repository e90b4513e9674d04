use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::executions::Retention;
use crate::guest_build::Guest;
use crate::host::{Config, Host};
use crate::http::HttpLimits;
use crate::http::auth::token_path;
use crate::runtime::Limits;
use crate::storage::WorkflowId;

/// Serve deployed workflows' webhooks at http://ADDR/webhook/<path>.
///
/// Workflows deployed before (in the data dir) are served again; `--deploy`
/// adds or replaces workflows at start-up.
#[derive(clap::Args)]
pub struct ServeCommand {
    /// Deploy a component at start-up as workflow ID (repeatable). A
    /// workflow's folder (Rust crate or TypeScript package) is built first.
    #[arg(long = "deploy", value_name = "ID=FILE.wasm|DIR", value_parser = parse_deploy_arg)]
    deploy: Vec<(WorkflowId, PathBuf)>,

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

    /// Let guests reach addresses that are not public (loopback, private
    /// networks, link-local, cloud metadata at 169.254.169.254) through any
    /// allow_http entry, not only entries naming those addresses.
    #[arg(long, env = "FLOWW_ALLOW_PRIVATE_EGRESS")]
    allow_private_egress: bool,

    /// Executions one instance serves before it is dropped, for workflows
    /// deployed without an --instance-reuse of their own. 1 gives every
    /// execution a fresh instance; more keeps an instance warm between a
    /// workflow's executions, with its memory and globals (see SECURITY.md).
    #[arg(long, env = "FLOWW_INSTANCE_REUSE", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    instance_reuse: u32,

    /// Acknowledge KV writes before they reach the disk (faster; a crash may
    /// lose the last half second of writes).
    #[arg(long, env = "FLOWW_NO_FSYNC", conflicts_with = "store")]
    no_fsync: bool,

    /// The admin API's bearer token [default: generated into DATA_DIR/admin-token].
    #[arg(long, env = "FLOWW_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// The key that seals workflows' secrets at rest, as 64 hex digits (e.g.
    /// from `openssl rand -hex 32`) [default: generated into DATA_DIR/secret-key].
    /// Hosts sharing a --store must all have the same key.
    #[arg(long, env = "FLOWW_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,

    /// Days execution records are kept.
    #[arg(long, env = "FLOWW_KEEP_DAYS", default_value_t = 7)]
    keep_days: u32,

    /// Execution records kept per workflow (the newest).
    #[arg(long, env = "FLOWW_KEEP_EXECUTIONS", default_value_t = 1000)]
    keep_executions: usize,

    /// Requests that may wait for a free execution slot; beyond that: 503.
    #[arg(long, env = "FLOWW_MAX_QUEUE", default_value_t = 128)]
    max_queue: usize,

    /// Seconds a client has to send a request's headers, from when the host
    /// waits for them (a new connection, or the end of the previous response):
    /// idle and half-sent connections are closed after that long.
    #[arg(long, env = "FLOWW_HEADER_TIMEOUT", default_value_t = 10.0, value_parser = parse_seconds)]
    header_timeout: f64,

    /// Client connections held at once; when full, the oldest idle one is
    /// closed for a new one [default: what the file limit (ulimit -n) leaves
    /// after 64 + --store-connections for the host's own files].
    #[arg(long, env = "FLOWW_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
}

/// A component to deploy at start-up, read before anything is opened.
pub struct Deploy {
    id: WorkflowId,
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Deploy {
    pub fn read(id: WorkflowId, path: PathBuf) -> anyhow::Result<Self> {
        let path = match Guest::named_by(&path)? {
            Some(guest) => guest.build()?,
            None => path,
        };
        let bytes = std::fs::read(&path).with_context(|| format!("could not read {}", path.display()))?;
        Ok(Self { id, path, bytes })
    }

    /// Deploys to `host`, or says why not.
    pub fn to(&self, host: &Host) -> anyhow::Result<()> {
        host.deploy(&self.id, &self.bytes)
            .with_context(|| format!("could not deploy {} as {:?}", self.path.display(), self.id.as_str()))?;
        tracing::info!(workflow = %self.id, "deployed {}", self.path.display());
        Ok(())
    }
}

fn parse_deploy_arg(arg: &str) -> Result<(WorkflowId, PathBuf), String> {
    let (id, path) = arg.split_once('=').ok_or("expected ID=FILE.wasm or ID=DIR, e.g. kv-store=examples/kv-store")?;
    let id = WorkflowId::parse(id).map_err(|e| e.to_string())?;
    Ok((id, PathBuf::from(path)))
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
        _ => Err("expected a number of seconds above 0 and at most 3600, e.g. 30 or 0.5".into()),
    }
}

impl ServeCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let deploys =
            self.deploy.into_iter().map(|(id, path)| Deploy::read(id, path)).collect::<anyhow::Result<Vec<_>>>()?;
        let listener = self.serve.bind()?;
        let host = self.serve.open()?;
        for d in deploys {
            d.to(&host)?;
        }
        self.serve.serve(host, listener)
    }
}

impl ServeOptions {
    /// The host these flags describe.
    fn config(&self) -> anyhow::Result<Config> {
        if self.token.as_ref().is_some_and(|t| t.trim().is_empty()) {
            bail!("--token is empty");
        }
        Ok(Config {
            data_dir: self.data_dir.clone(),
            store: self.store.clone(),
            store_connections: self.store_connections,
            fsync: !self.no_fsync,
            token: self.token.clone(),
            secret_key: self.secret_key.clone(),
            limits: Limits {
                timeout: Duration::from_secs_f64(self.timeout),
                memory_bytes: self.memory_mib as usize * 1024 * 1024,
                concurrency: self.max_concurrency as usize,
                private_egress: self.allow_private_egress,
                instance_reuse: self.instance_reuse,
            },
            max_queue: self.max_queue,
            http: HttpLimits { request_body: self.body_limit, response_body: self.response_limit },
            header_timeout: Duration::from_secs_f64(self.header_timeout),
            max_connections: self.max_connections.map(|n| n as usize),
            retention: Retention {
                max_age: Duration::from_secs(u64::from(self.keep_days) * 24 * 60 * 60),
                per_workflow: self.keep_executions,
            },
        })
    }

    /// Opens the host: the store (the data dir, or the `--store` database),
    /// the admin token, the runtime and the workflows deployed before.
    pub fn open(&self) -> anyhow::Result<Host> {
        Host::open(&self.config()?)
    }

    /// Takes the `--listen` address, first: an address in use is said before
    /// any slow start-up work (a build, opening the store) is done.
    pub fn bind(&self) -> anyhow::Result<std::net::TcpListener> {
        let listener = std::net::TcpListener::bind(self.listen).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    " (another process listens there: pick another address with --listen, \
                     e.g. --listen 127.0.0.1:0 for any free port)"
                }
                _ => "",
            };
            anyhow::anyhow!("could not listen on {}: {e}{hint}", self.listen)
        })?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    }

    /// Serves `host` on `listener` (from [`ServeOptions::bind`]) until Ctrl-C or SIGTERM.
    pub fn serve(self, host: Host, listener: std::net::TcpListener) -> anyhow::Result<()> {
        let token_source = match self.token {
            Some(_) => "from --token".to_owned(),
            None => format!("in {}", token_path(&self.data_dir).display()),
        };
        let rt = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let addr = listener.local_addr()?;
            let shutdown = shutdown_signal()?;
            // The readiness line comes last, so whoever waits for it has seen the routes.
            let deployed = host.registry.list();
            if deployed.is_empty() {
                println!("No workflows deployed yet: pass --deploy ID=FILE.wasm (or ID=DIR), or use `floww dev DIR`.");
            }
            for d in deployed {
                for route in &d.manifest.routes {
                    println!("  {:<6} http://{addr}/webhook{}  ({})", route.method, route.path, d.manifest.id);
                }
                for cron in &d.manifest.crons {
                    println!("  CRON   {}  ({})", cron.schedule.as_str(), d.manifest.id);
                }
                for manual in &d.manifest.manuals {
                    println!("  MANUAL floww invoke {} {} '<json>'", d.manifest.id, manual.name);
                }
            }
            println!("Admin API at http://{addr}/api/ (bearer token {token_source})");
            println!("Dashboard at http://{addr}/ui/ (sign in with the same token)");
            if self.token.is_none() {
                // The client commands (deploy, logs, kv, …) find this host with these.
                let data_dir = std::path::absolute(&self.data_dir).unwrap_or(self.data_dir.clone());
                println!(
                    "For the client commands: export FLOWW_HOST=http://{addr} FLOWW_DATA_DIR={}",
                    data_dir.display()
                );
            }
            println!("Serving http://{addr}");
            host.serve(listener, shutdown).await?;
            tracing::info!("stopped");
            anyhow::Ok(())
        })
    }
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
