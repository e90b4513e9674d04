//! Deployments in PostgreSQL, shared by every host on the database: component
//! bytes in `floww_components`, manifests in `floww_workflows`. A change is
//! announced with `NOTIFY floww_deployments, '<id>'` in its own transaction,
//! and [`watch`] makes every host follow it within moments.

use std::sync::{Arc, Weak};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use super::{DeployError, DeploymentStore, Manifest, Registry, routes_free};
use crate::storage::postgres::{Database, storage_error};
use crate::storage::{StorageError, StorageResult};

const CHANNEL: &str = "floww_deployments";
/// Deploys and undeploys across hosts take this advisory lock, so a route
/// check sees every earlier deploy.
const DEPLOY_LOCK: i64 = 0x466c_6f77_7702;
/// How long the watcher waits before reconnecting after losing the database.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

pub struct PostgresDeployments {
    db: Arc<Database>,
}

impl PostgresDeployments {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

fn manifest(text: &str) -> StorageResult<Manifest> {
    serde_json::from_str(text).map_err(|e| StorageError::corrupt("a stored manifest", e))
}

impl DeploymentStore for PostgresDeployments {
    fn manifests(&self) -> StorageResult<Vec<Manifest>> {
        let rows = self.db.get()?.query("SELECT manifest FROM floww_workflows ORDER BY id", &[]);
        rows.map_err(storage_error)?.iter().map(|row| manifest(row.get(0))).collect()
    }

    fn manifest(&self, id: &str) -> StorageResult<Option<Manifest>> {
        let row = self.db.get()?.query_opt("SELECT manifest FROM floww_workflows WHERE id = $1", &[&id]);
        row.map_err(storage_error)?.map(|row| manifest(row.get(0))).transpose()
    }

    fn component(&self, sha256: &str) -> StorageResult<Vec<u8>> {
        let row = self.db.get()?.query_opt("SELECT bytes FROM floww_components WHERE sha256 = $1", &[&sha256]);
        row.map_err(storage_error)?
            .map(|row| row.get(0))
            .ok_or_else(|| StorageError::failed(format!("no component {sha256} in the database")))
    }

    /// Checks the routes against every workflow in the database, under the
    /// deploy lock: two hosts can't hand one route to two workflows.
    fn save(&self, manifest: &Manifest, bytes: &[u8]) -> Result<(), DeployError> {
        let mut conn = self.db.get()?;
        let mut tx = conn.transaction().map_err(storage_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEPLOY_LOCK]).map_err(storage_error)?;
        let others = tx
            .query("SELECT manifest FROM floww_workflows WHERE id <> $1", &[&manifest.id.as_str()])
            .map_err(storage_error)?;
        let others = others.iter().map(|row| self::manifest(row.get(0))).collect::<StorageResult<Vec<_>>>()?;
        routes_free(&manifest.id, &manifest.routes, &others)?;
        let json = serde_json::to_string(manifest).map_err(StorageError::failed)?;
        tx.execute(
            "INSERT INTO floww_components (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
            &[&manifest.sha256, &bytes],
        )
        .map_err(storage_error)?;
        tx.execute(
            "INSERT INTO floww_workflows (id, manifest, sha256) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET manifest = $2, sha256 = $3",
            &[&manifest.id.as_str(), &json, &manifest.sha256],
        )
        .map_err(storage_error)?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &manifest.id.as_str()]).map_err(storage_error)?;
        tx.commit().map_err(storage_error)?;
        Ok(())
    }

    fn remove(&self, id: &str) -> StorageResult<bool> {
        let mut conn = self.db.get()?;
        let mut tx = conn.transaction().map_err(storage_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEPLOY_LOCK]).map_err(storage_error)?;
        let removed = tx.execute("DELETE FROM floww_workflows WHERE id = $1", &[&id]).map_err(storage_error)? > 0;
        tx.execute("DELETE FROM floww_cron_ticks WHERE workflow = $1", &[&id]).map_err(storage_error)?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id]).map_err(storage_error)?;
        tx.commit().map_err(storage_error)?;
        Ok(removed)
    }

    fn remove_unused(&self) -> StorageResult<()> {
        let mut conn = self.db.get()?;
        let mut tx = conn.transaction().map_err(storage_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEPLOY_LOCK]).map_err(storage_error)?;
        tx.execute(
            "DELETE FROM floww_components c WHERE NOT EXISTS (SELECT 1 FROM floww_workflows w WHERE w.sha256 = c.sha256)",
            &[],
        )
        .map_err(storage_error)?;
        tx.commit().map_err(storage_error)
    }
}

/// Follows deploys and undeploys made through any host, on a thread of its
/// own, for as long as `registry` lives. After every (re)connection it
/// catches up on the whole set, so changes made while it was away arrive too.
pub fn watch(db: Arc<Database>, registry: &Arc<Registry>) {
    let registry = Arc::downgrade(registry);
    let run = move || {
        while registry.strong_count() > 0 {
            if let Err(e) = follow(&db, &registry) {
                tracing::warn!("lost the deployments channel ({e}); reconnecting");
                std::thread::sleep(RECONNECT_AFTER);
            }
        }
    };
    std::thread::Builder::new().name("floww-deploy-watch".into()).spawn(run).expect("spawn the deploy watcher");
}

fn follow(db: &Database, registry: &Weak<Registry>) -> Result<(), Box<dyn std::error::Error>> {
    let mut client = db.dedicated()?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    match registry.upgrade() {
        Some(registry) => registry.refresh_all(),
        None => return Ok(()),
    }
    loop {
        {
            let mut notifications = client.notifications();
            // Wakes up now and then to notice that the registry has gone.
            let mut waiting = notifications.timeout_iter(Duration::from_secs(1));
            while let Some(notification) = waiting.next()? {
                let Some(registry) = registry.upgrade() else { return Ok(()) };
                registry.refresh(notification.payload());
            }
        }
        if registry.strong_count() == 0 {
            return Ok(());
        }
        if client.is_closed() {
            return Err("the connection closed".into());
        }
    }
}
