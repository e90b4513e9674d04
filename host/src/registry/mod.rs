//! The deployed workflows: their ids, compiled components and triggers, kept
//! in a [`DeploymentStore`] (files in the data dir, or PostgreSQL shared by
//! several hosts), so a restart, or another host, serves the same webhooks.
//! The registry compiles what it deploys with the runtime it was built with
//! (which caches the code). A deploy is checked whole before it is swapped
//! in: on any error the running set is unchanged. A swap is one pointer
//! change under a lock: executions already running keep the version they
//! started with. Every change is announced on a watch channel
//! ([`Registry::subscribe`]), which the scheduler follows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::egress::Allowlist;
use crate::kv::WorkflowDirectory;
use crate::runs::RunDirectory;
use crate::runtime::{ExecError, Runtime, Workflow};
use crate::storage::{InvalidWorkflowId, StorageError, StorageResult, WorkflowId, now_ms};
use crate::triggers::{self, CronTrigger, InvalidTrigger, ManualTrigger, Route, Triggers};

mod files;
mod postgres;

pub use self::files::FileDeployments;
pub use self::postgres::{PostgresDeployments, watch};

/// Where deployments are kept: manifests by workflow id, component bytes by
/// their SHA-256.
pub trait DeploymentStore: Send + Sync {
    /// Every manifest, by id.
    fn manifests(&self) -> StorageResult<Vec<Manifest>>;
    fn manifest(&self, id: &str) -> StorageResult<Option<Manifest>>;
    fn component(&self, sha256: &str) -> StorageResult<Vec<u8>>;
    /// Stores a deployment (component first, manifest last); a store that
    /// several hosts share checks the routes against all of them here.
    fn save(&self, manifest: &Manifest, bytes: &[u8]) -> Result<(), DeployError>;
    /// Removes `id`'s manifest; `false` if there was none.
    fn remove(&self, id: &str) -> StorageResult<bool>;
    /// Removes the components that no manifest names.
    fn remove_unused(&self) -> StorageResult<()>;
}

/// What is recorded of a deployed workflow. Its cron schedules are kept
/// parsed and its input schemas compiled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub id: WorkflowId,
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crons: Vec<CronTrigger>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manuals: Vec<ManualTrigger>,
    /// Its durable run functions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<String>,
    pub sha256: String,
    pub size: usize,
    pub deployed_at_ms: u64,
    /// Overrides the host's execution deadline for this workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Where its outbound HTTP may go: what it declares, less what the
    /// operator removed at deploy (`denied_http`).
    #[serde(default, skip_serializing_if = "Allowlist::is_empty")]
    pub allow_http: Allowlist,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_http: Vec<String>,
    /// Executions one instance serves; `None` takes the host's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_reuse: Option<u32>,
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
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    pub timeout: Option<Duration>,
    /// Entries of the workflow's `allow_http` the operator removes.
    pub deny_http: Vec<String>,
    /// Executions one instance serves, instead of the host's default.
    pub instance_reuse: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    InvalidId(#[from] InvalidWorkflowId),
    #[error("not a usable workflow component: {0}")]
    InvalidComponent(String),
    #[error("the workflow failed while listing its triggers: {0}")]
    Triggers(#[source] ExecError),
    #[error(transparent)]
    InvalidTrigger(#[from] InvalidTrigger),
    #[error("{0}")]
    InvalidAllowlist(String),
    #[error("webhook {} {} is already served by workflow {owner:?}", .route.method, .route.path)]
    RouteTaken { route: Route, owner: String },
    #[error("could not store the workflow: {0}")]
    Storage(#[from] StorageError),
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not read the deployed workflows: {0}")]
    Storage(#[from] StorageError),
    #[error("deployed workflow {id:?} no longer compiles: {reason}")]
    Compile { id: String, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum UndeployError {
    #[error("no workflow {0:?} is deployed")]
    NotFound(String),
    #[error("could not remove the workflow: {0}")]
    Storage(#[from] StorageError),
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
    by_id: BTreeMap<WorkflowId, Arc<Deployment>>,
    routes: HashMap<Route, Arc<Deployment>>,
}

pub struct Registry {
    runtime: Arc<Runtime>,
    store: Box<dyn DeploymentStore>,
    deployed: RwLock<Deployed>,
    /// Serialises deploys, undeploys and refreshes, so conflict checks see
    /// every earlier one.
    changing: Mutex<()>,
    /// Bumped after every change of the deployed set.
    changes: watch::Sender<u64>,
}

impl Registry {
    /// A registry over `store` that compiles with `runtime`; it serves
    /// nothing until [`load`](Self::load) or a deploy.
    pub fn new(runtime: Arc<Runtime>, store: Box<dyn DeploymentStore>) -> Self {
        Self { runtime, store, deployed: RwLock::default(), changing: Mutex::default(), changes: watch::Sender::new(0) }
    }

    /// Serves every workflow in the store; returns their ids.
    pub fn load(&self) -> Result<Vec<WorkflowId>, LoadError> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids = Vec::new();
        for manifest in self.store.manifests()? {
            ids.push(manifest.id.clone());
            self.swap_in(Arc::new(self.prepare(manifest)?));
        }
        self.remove_unused_code();
        Ok(ids)
    }

    /// Brings `id` in line with the store, after another host changed it:
    /// serves the stored version, or stops serving it if it is gone. Errors
    /// are logged; the workflow keeps its old version then.
    pub fn refresh(&self, id: &str) {
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
            Some(manifest) => match self.prepare(manifest) {
                Ok(deployment) => {
                    self.swap_in(Arc::new(deployment));
                    tracing::info!(workflow = %id, "deployed through another host");
                }
                Err(e) => tracing::warn!(workflow = %id, "could not serve the stored deployment: {e}"),
            },
        }
    }

    /// [`refresh`](Registry::refresh) for every workflow served or stored.
    pub fn refresh_all(&self) {
        let mut ids: BTreeSet<WorkflowId> = self.list().iter().map(|d| d.manifest.id.clone()).collect();
        match self.store.manifests() {
            Ok(stored) => ids.extend(stored.into_iter().map(|m| m.id)),
            Err(e) => return tracing::warn!("could not read the stored deployments: {e}"),
        }
        for id in ids {
            self.refresh(&id);
        }
    }

    /// A stored workflow made ready to serve: its code from the runtime's
    /// cache, or compiled from the stored component.
    fn prepare(&self, manifest: Manifest) -> Result<Deployment, LoadError> {
        let workflow = match self.runtime.cached(&manifest.sha256) {
            Some(workflow) => {
                tracing::info!(workflow = %manifest.id, "loaded from the compiled cache");
                workflow
            }
            None => {
                tracing::info!(workflow = %manifest.id, "compiling (no usable compiled cache)");
                let bytes = self.store.component(&manifest.sha256)?;
                self.runtime
                    .compile(&bytes)
                    .map_err(|e| LoadError::Compile { id: manifest.id.to_string(), reason: format!("{e:#}") })?
            }
        };
        Ok(Deployment { manifest, workflow })
    }

    /// Deploys (or redeploys) `id` from component bytes.
    pub fn deploy(&self, id: &str, bytes: &[u8], options: DeployOptions) -> Result<Arc<Deployment>, DeployError> {
        let id = WorkflowId::parse(id)?;
        let workflow = self.runtime.compile(bytes).map_err(|e| DeployError::InvalidComponent(format!("{e:#}")))?;
        let declared = self.runtime.declarations(&workflow, &id, options.timeout).map_err(DeployError::Triggers)?;
        let Triggers { routes, crons, manuals } = triggers::check(&id, declared.triggers)?;
        let runs = triggers::check_runs(declared.runs)?;
        let allow_http = Allowlist::parse(&declared.allow_http)
            .and_then(|list| list.without(&options.deny_http))
            .map_err(DeployError::InvalidAllowlist)?;

        let _one_at_a_time = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        {
            let served = self.deployed.read().unwrap_or_else(|e| e.into_inner());
            routes_free(&id, &routes, served.by_id.values().map(|d| &d.manifest))?;
        }
        let manifest = Manifest {
            id,
            routes,
            crons,
            manuals,
            runs,
            sha256: workflow.sha256().to_owned(),
            size: bytes.len(),
            deployed_at_ms: now_ms(),
            timeout_ms: options.timeout.map(|t| t.as_millis() as u64),
            allow_http,
            denied_http: options.deny_http,
            instance_reuse: options.instance_reuse,
        };
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

    /// Components and compiled code that no deployment names any more.
    fn remove_unused_code(&self) {
        if let Err(e) = self.store.remove_unused() {
            tracing::warn!("could not remove unused components: {e}");
        }
        let used: Vec<String> = self.list().iter().map(|d| d.manifest.sha256.clone()).collect();
        self.runtime.forget_code_except(&used);
    }
}

/// Fails if another workflow among `others` serves one of the paths of
/// `routes`, with any method: one path, one workflow.
fn routes_free<'a>(
    id: &str,
    routes: &[Route],
    others: impl IntoIterator<Item = &'a Manifest>,
) -> Result<(), DeployError> {
    for other in others.into_iter().filter(|m| m.id.as_str() != id) {
        if let Some(route) = routes.iter().find(|r| other.routes.iter().any(|o| o.path == r.path)) {
            return Err(DeployError::RouteTaken { route: route.clone(), owner: other.id.to_string() });
        }
    }
    Ok(())
}

/// Which workflows are deployed, for the KV store (grants name deployed
/// workflows only). The KV store is made before the registry, whose runtime
/// serves it to guests, so the registry is [set](Directory::set) after.
#[derive(Default)]
pub struct Directory(OnceLock<Weak<Registry>>);

impl Directory {
    pub fn set(&self, registry: &Arc<Registry>) {
        let _ = self.0.set(Arc::downgrade(registry));
    }
}

impl Directory {
    fn manifest<T>(&self, id: &str, look: impl FnOnce(&Manifest) -> T) -> Option<T> {
        let registry = self.0.get().and_then(Weak::upgrade)?;
        let deployed = registry.deployed.read().unwrap_or_else(|e| e.into_inner());
        deployed.by_id.get(id).map(|d| look(&d.manifest))
    }
}

impl WorkflowDirectory for Directory {
    fn is_deployed(&self, id: &str) -> bool {
        self.manifest(id, |_| ()).is_some()
    }
}

impl RunDirectory for Directory {
    fn run_names(&self, workflow: &str) -> Option<Vec<String>> {
        self.manifest(workflow, |m| m.runs.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: &str, routes: &[(&str, &str)]) -> Manifest {
        Manifest {
            id: WorkflowId::parse(id).unwrap(),
            routes: routes
                .iter()
                .map(|(method, path)| Route { method: (*method).into(), path: (*path).into() })
                .collect(),
            crons: Vec::new(),
            manuals: Vec::new(),
            runs: Vec::new(),
            sha256: String::new(),
            size: 0,
            deployed_at_ms: 0,
            timeout_ms: None,
            allow_http: Allowlist::default(),
            denied_http: Vec::new(),
            instance_reuse: None,
        }
    }

    #[test]
    fn a_path_belongs_to_one_workflow_whatever_the_method() {
        let served = [manifest("kv-store", &[("POST", "/users")])];
        let get = [Route { method: "GET".into(), path: "/users".into() }];
        let err = routes_free("other", &get, &served).unwrap_err();
        assert_eq!(err.to_string(), "webhook GET /users is already served by workflow \"kv-store\"");
        assert!(routes_free("kv-store", &get, &served).is_ok(), "a workflow may add methods to its own path");
        let elsewhere = [Route { method: "POST".into(), path: "/users/x".into() }];
        assert!(routes_free("other", &elsewhere, &served).is_ok());
    }
}
