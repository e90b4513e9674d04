//! The deployed workflows: their ids, compiled components and triggers
//! (webhook routes, cron schedules, manual triggers), kept in a
//! [`DeploymentStore`] (files in the data dir, or PostgreSQL shared by several
//! hosts), so a restart, or another host, serves the same webhooks. A deploy
//! is checked whole before it is swapped in: on any error the running set is
//! unchanged. A swap is one pointer change under a lock: executions already
//! running keep the version they started with. Every change is announced on a
//! watch channel ([`Registry::subscribe`]), which the scheduler follows.
//!
//! Compiled code is cached per host in `DATA_DIR/cache/<sha256>-<engine>.cwasm`,
//! so a restart need not compile.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::kv::{WorkflowDirectory, check_workflow_id};
use crate::runtime::{ExecError, Runtime, Workflow};

mod files;
mod postgres;
mod triggers;

pub use self::files::FileDeployments;
pub use self::postgres::{PostgresDeployments, watch};
pub use self::triggers::{WORKFLOW_SEGMENT, input_validator};

/// Where deployments are kept: manifests by workflow id, component bytes by
/// their SHA-256.
pub trait DeploymentStore: Send + Sync {
    /// Every manifest, by id.
    fn manifests(&self) -> io::Result<Vec<Manifest>>;
    fn manifest(&self, id: &str) -> io::Result<Option<Manifest>>;
    fn component(&self, sha256: &str) -> io::Result<Vec<u8>>;
    /// Stores a deployment (component first, manifest last); a store that
    /// several hosts share checks the routes against all of them here.
    fn save(&self, manifest: &Manifest, bytes: &[u8]) -> Result<(), DeployError>;
    /// Removes `id`'s manifest; `false` if there was none.
    fn remove(&self, id: &str) -> io::Result<bool>;
    /// Removes the components that no manifest names.
    fn remove_unused(&self) -> io::Result<()>;
}

/// A webhook a workflow answers: `method` requests to `/webhook<path>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route {
    pub method: String,
    pub path: String,
}

/// A cron trigger: the workflow's `handle-cron` runs at each tick of `schedule` (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CronTrigger {
    pub schedule: String,
}

/// A trigger an operator runs through the admin API, with JSON input that
/// must match `input_schema` (JSON Schema text) when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManualTrigger {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<String>,
}

/// What is recorded of a deployed workflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub id: String,
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crons: Vec<CronTrigger>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manuals: Vec<ManualTrigger>,
    pub sha256: String,
    pub size: usize,
    pub deployed_at_ms: u64,
    /// Overrides the host's execution deadline for this workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl Manifest {
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }

    /// The manual trigger called `name`, if the workflow declares one.
    pub fn manual(&self, name: &str) -> Option<&ManualTrigger> {
        self.manuals.iter().find(|m| m.name == name)
    }
}

/// A deployed workflow. Executions hold an `Arc` to it, so a redeploy never
/// pulls a component out from under a running execution.
pub struct Deployment {
    pub manifest: Manifest,
    pub workflow: Workflow,
}

/// Choices made at deploy time.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeployOptions {
    pub timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{0}")]
    InvalidId(String),
    #[error("not a usable workflow component: {0}")]
    InvalidComponent(String),
    #[error("the workflow failed while listing its triggers: {0}")]
    Triggers(#[source] ExecError),
    #[error("invalid trigger: {0}")]
    InvalidTrigger(String),
    #[error("webhook {} {} is already served by workflow {owner:?}", .route.method, .route.path)]
    RouteTaken { route: Route, owner: String },
    #[error("could not store the workflow: {0}")]
    Io(#[from] io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not read the deployed workflows: {0}")]
    Io(#[from] io::Error),
    #[error("deployed workflow {id:?} no longer compiles: {reason}")]
    Compile { id: String, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum UndeployError {
    #[error("no workflow {0:?} is deployed")]
    NotFound(String),
    #[error("could not remove the workflow: {0}")]
    Io(#[from] io::Error),
}

/// What a webhook request's method and path lead to.
pub enum RouteMatch {
    Found(Arc<Deployment>),
    /// The path exists with other methods, listed here.
    WrongMethod(Vec<String>),
    NotFound,
}

#[derive(Default)]
struct Deployed {
    by_id: BTreeMap<String, Arc<Deployment>>,
    routes: HashMap<Route, Arc<Deployment>>,
}

pub struct Registry {
    store: Box<dyn DeploymentStore>,
    cache_dir: PathBuf,
    deployed: RwLock<Deployed>,
    /// Serialises deploys, undeploys and refreshes, so conflict checks see
    /// every earlier one.
    changing: Mutex<()>,
    /// Bumped after every change of the deployed set.
    changes: watch::Sender<u64>,
}

impl Registry {
    /// A registry over `store`, caching compiled code under `data_dir`.
    pub fn open(data_dir: &Path, store: Box<dyn DeploymentStore>) -> io::Result<Self> {
        let cache_dir = data_dir.join("cache");
        fs::create_dir_all(&cache_dir)?;
        Ok(Self {
            store,
            cache_dir,
            deployed: RwLock::default(),
            changing: Mutex::default(),
            changes: watch::Sender::new(0),
        })
    }

    /// Serves every workflow in the store, from the compiled cache where it
    /// can; returns their ids.
    pub fn load(&self, runtime: &Runtime) -> Result<Vec<String>, LoadError> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids = Vec::new();
        for manifest in self.store.manifests()? {
            ids.push(manifest.id.clone());
            self.swap_in(Arc::new(self.prepare(runtime, manifest)?));
        }
        self.remove_unused_files();
        Ok(ids)
    }

    /// Brings `id` in line with the store, after another host changed it:
    /// serves the stored version, or stops serving it if it is gone. Errors
    /// are logged; the workflow keeps its old version then.
    pub fn refresh(&self, runtime: &Runtime, id: &str) {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.get(id).map(|d| (d.manifest.sha256.clone(), d.manifest.deployed_at_ms));
        let stored = match self.store.manifest(id) {
            Ok(stored) => stored,
            Err(e) => return tracing::warn!(workflow = %id, "could not read the stored deployment: {e}"),
        };
        match stored {
            None if current.is_some() => {
                self.swap_out(id);
                tracing::info!(workflow = %id, "undeployed through another host");
            }
            None => {}
            Some(manifest) if current == Some((manifest.sha256.clone(), manifest.deployed_at_ms)) => {}
            Some(manifest) => match self.prepare(runtime, manifest) {
                Ok(deployment) => {
                    self.swap_in(Arc::new(deployment));
                    tracing::info!(workflow = %id, "deployed through another host");
                }
                Err(e) => tracing::warn!(workflow = %id, "could not serve the stored deployment: {e}"),
            },
        }
    }

    /// [`refresh`](Registry::refresh) for every workflow served or stored.
    pub fn refresh_all(&self, runtime: &Runtime) {
        let mut ids: BTreeSet<String> = self.list().iter().map(|d| d.manifest.id.clone()).collect();
        match self.store.manifests() {
            Ok(stored) => ids.extend(stored.into_iter().map(|m| m.id)),
            Err(e) => return tracing::warn!("could not read the stored deployments: {e}"),
        }
        for id in ids {
            self.refresh(runtime, &id);
        }
    }

    /// A stored workflow made ready to serve.
    fn prepare(&self, runtime: &Runtime, manifest: Manifest) -> Result<Deployment, LoadError> {
        let workflow = match self.load_compiled(runtime, &manifest.sha256) {
            Some(workflow) => {
                tracing::info!(workflow = %manifest.id, "loaded from the compiled cache");
                workflow
            }
            None => {
                tracing::info!(workflow = %manifest.id, "compiling (no usable compiled cache)");
                let bytes = self.store.component(&manifest.sha256)?;
                let workflow = runtime
                    .compile(&bytes)
                    .map_err(|e| LoadError::Compile { id: manifest.id.clone(), reason: format!("{e:#}") })?;
                self.save_compiled(runtime, &manifest.sha256, &workflow);
                workflow
            }
        };
        Ok(Deployment { manifest, workflow })
    }

    /// Deploys (or redeploys) `id` from component bytes.
    pub fn deploy(
        &self,
        runtime: &Runtime,
        id: &str,
        bytes: &[u8],
        options: DeployOptions,
    ) -> Result<Arc<Deployment>, DeployError> {
        check_workflow_id(id).map_err(|e| DeployError::InvalidId(e.to_string()))?;
        let sha256 = format!("{:x}", Sha256::digest(bytes));
        let workflow = runtime.compile(bytes).map_err(|e| DeployError::InvalidComponent(format!("{e:#}")))?;
        let triggers = runtime.triggers(&workflow, id, options.timeout).map_err(DeployError::Triggers)?;
        let triggers::Checked { routes, crons, manuals } = triggers::check(id, triggers)?;

        let _one_at_a_time = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        {
            let served = self.deployed.read().unwrap_or_else(|e| e.into_inner());
            routes_free(id, &routes, served.by_id.values().map(|d| &d.manifest))?;
        }
        let manifest = Manifest {
            id: id.to_owned(),
            routes,
            crons,
            manuals,
            sha256,
            size: bytes.len(),
            deployed_at_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            timeout_ms: options.timeout.map(|t| t.as_millis() as u64),
        };
        self.save_compiled(runtime, &manifest.sha256, &workflow);
        self.store.save(&manifest, bytes)?;
        let deployment = Arc::new(Deployment { manifest, workflow });
        self.swap_in(deployment.clone());
        Ok(deployment)
    }

    /// Stops serving `id`. Its tables stay in the KV store, owned by the id.
    pub fn undeploy(&self, id: &str) -> Result<(), UndeployError> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let removed = self.store.remove(id)?;
        if !self.swap_out(id) && !removed {
            return Err(UndeployError::NotFound(id.to_owned()));
        }
        Ok(())
    }

    /// A receiver that sees a new value after every deploy, redeploy and undeploy.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn route(&self, method: &str, path: &str) -> RouteMatch {
        let deployed = self.deployed.read().unwrap_or_else(|e| e.into_inner());
        let route = Route { method: method.to_owned(), path: path.to_owned() };
        if let Some(d) = deployed.routes.get(&route) {
            return RouteMatch::Found(d.clone());
        }
        let mut allowed: Vec<String> =
            deployed.routes.keys().filter(|r| r.path == path).map(|r| r.method.clone()).collect();
        if allowed.is_empty() {
            return RouteMatch::NotFound;
        }
        allowed.sort();
        RouteMatch::WrongMethod(allowed)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Deployment>> {
        self.deployed.read().unwrap_or_else(|e| e.into_inner()).by_id.get(id).cloned()
    }

    /// Every deployed workflow, by id.
    pub fn list(&self) -> Vec<Arc<Deployment>> {
        self.deployed.read().unwrap_or_else(|e| e.into_inner()).by_id.values().cloned().collect()
    }

    fn swap_in(&self, deployment: Arc<Deployment>) {
        let mut deployed = self.deployed.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = deployed.by_id.remove(&deployment.manifest.id) {
            for route in &old.manifest.routes {
                deployed.routes.remove(route);
            }
        }
        for route in &deployment.manifest.routes {
            deployed.routes.insert(route.clone(), deployment.clone());
        }
        deployed.by_id.insert(deployment.manifest.id.clone(), deployment);
        drop(deployed);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Stops serving `id`; `false` if it wasn't served.
    fn swap_out(&self, id: &str) -> bool {
        let mut deployed = self.deployed.write().unwrap_or_else(|e| e.into_inner());
        let Some(old) = deployed.by_id.remove(id) else { return false };
        for route in &old.manifest.routes {
            deployed.routes.remove(route);
        }
        drop(deployed);
        self.changes.send_modify(|n| *n += 1);
        true
    }

    fn compiled_path(&self, runtime: &Runtime, sha256: &str) -> PathBuf {
        self.cache_dir.join(format!("{sha256}-{}.cwasm", runtime.engine_fingerprint()))
    }

    fn load_compiled(&self, runtime: &Runtime, sha256: &str) -> Option<Workflow> {
        let path = self.compiled_path(runtime, sha256);
        if !path.exists() {
            return None;
        }
        runtime
            .load_compiled(&path)
            .inspect_err(|e| tracing::warn!("ignoring compiled cache {}: {e:#}", path.display()))
            .ok()
    }

    /// The cache only saves time: failing to write it is logged, not fatal.
    fn save_compiled(&self, runtime: &Runtime, sha256: &str, workflow: &Workflow) {
        let path = self.compiled_path(runtime, sha256);
        let saved = workflow.serialize().map_err(|e| io::Error::other(format!("{e:#}")));
        if let Err(e) = saved.and_then(|bytes| write_atomically(&path, &bytes)) {
            tracing::warn!("could not cache compiled code in {}: {e}", path.display());
        }
    }

    /// Components and compiled code that no deployment names any more.
    fn remove_unused_files(&self) {
        if let Err(e) = self.store.remove_unused() {
            tracing::warn!("could not remove unused components: {e}");
        }
        let used: HashSet<String> = self.list().iter().map(|d| d.manifest.sha256.clone()).collect();
        let Ok(entries) = fs::read_dir(&self.cache_dir) else { return };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if !used.iter().any(|sha| name.starts_with(sha.as_str())) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Fails if another workflow among `others` serves one of `routes`.
fn routes_free<'a>(
    id: &str,
    routes: &[Route],
    others: impl IntoIterator<Item = &'a Manifest>,
) -> Result<(), DeployError> {
    for other in others.into_iter().filter(|m| m.id != id) {
        if let Some(route) = routes.iter().find(|r| other.routes.contains(r)) {
            return Err(DeployError::RouteTaken { route: route.clone(), owner: other.id.clone() });
        }
    }
    Ok(())
}

impl WorkflowDirectory for Registry {
    fn is_deployed(&self, id: &str) -> bool {
        self.deployed.read().unwrap_or_else(|e| e.into_inner()).by_id.contains_key(id)
    }
}

/// Writes a file via a synced temporary and a rename, so readers and crashes
/// see the old file or the new one, never half of one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = fs::File::create(&tmp)?;
        io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
