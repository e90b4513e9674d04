//! Deployments in PostgreSQL, shared by every host on the database: component
//! bytes in `floww_components`, manifests in `floww_workflows`. A change is
//! announced with `NOTIFY floww_deployments, '<id>'` in its own transaction,
//! and [`watch`] makes every host follow it within moments.

use std::io;
use std::sync::{Arc, Weak};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use super::{DeployError, DeploymentStore, Manifest, Registry, routes_free};
use crate::database::{Connection, Database, io_error};
use crate::runtime::Runtime;

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

    /// A pooled connection; failing to get one is an `io::Error`, as the trait speaks.
    fn conn(&self) -> io::Result<Connection> {
        self.db.get().map_err(io::Error::other)
    }
}

fn manifest(text: &str) -> io::Result<Manifest> {
    serde_json::from_str(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl DeploymentStore for PostgresDeployments {
    fn manifests(&self) -> io::Result<Vec<Manifest>> {
        let rows = self.conn()?.query("SELECT manifest FROM floww_workflows ORDER BY id", &[]);
        rows.map_err(io_error)?.iter().map(|row| manifest(row.get(0))).collect()
    }

    fn manifest(&self, id: &str) -> io::Result<Option<Manifest>> {
        let row = self.conn()?.query_opt("SELECT manifest FROM floww_workflows WHERE id = $1", &[&id]);
        row.map_err(io_error)?.map(|row| manifest(row.get(0))).transpose()
    }

    fn component(&self, sha256: &str) -> io::Result<Vec<u8>> {
        let row = self.conn()?.query_opt("SELECT bytes FROM floww_components WHERE sha256 = $1", &[&sha256]);
        row.map_err(io_error)?
            .map(|row| row.get(0))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no component {sha256} in the database")))
    }

    /// Checks the routes against every workflow in the database, under the
    /// deploy lock: two hosts can't hand one route to two workflows.
    fn save(&self, manifest: &Manifest, bytes: &[u8]) -> Result<(), DeployError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(io_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEPLOY_LOCK]).map_err(io_error)?;
        let others =
            tx.query("SELECT manifest FROM floww_workflows WHERE id <> $1", &[&manifest.id]).map_err(io_error)?;
        let others = others.iter().map(|row| self::manifest(row.get(0))).collect::<io::Result<Vec<_>>>()?;
        routes_free(&manifest.id, &manifest.routes, &others)?;
        let json = serde_json::to_string(manifest).map_err(io::Error::other)?;
        tx.execute(
            "INSERT INTO floww_components (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
            &[&manifest.sha256, &bytes],
        )
        .map_err(io_error)?;
        tx.execute(
            "INSERT INTO floww_workflows (id, manifest, sha256) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET manifest = $2, sha256 = $3",
            &[&manifest.id, &json, &manifest.sha256],
        )
        .map_err(io_error)?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &manifest.id]).map_err(io_error)?;
        tx.commit().map_err(io_error)?;
        Ok(())
    }

    fn remove(&self, id: &str) -> io::Result<bool> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(io_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEPLOY_LOCK]).map_err(io_error)?;
        let removed = tx.execute("DELETE FROM floww_workflows WHERE id = $1", &[&id]).map_err(io_error)? > 0;
        tx.execute("DELETE FROM floww_cron_ticks WHERE workflow = $1", &[&id]).map_err(io_error)?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id]).map_err(io_error)?;
        tx.commit().map_err(io_error)?;
        Ok(removed)
    }

    fn remove_unused(&self) -> io::Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(io_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEPLOY_LOCK]).map_err(io_error)?;
        tx.execute(
            "DELETE FROM floww_components c WHERE NOT EXISTS (SELECT 1 FROM floww_workflows w WHERE w.sha256 = c.sha256)",
            &[],
        )
        .map_err(io_error)?;
        tx.commit().map_err(io_error)
    }
}

/// Follows deploys and undeploys made through any host, on a thread of its
/// own, for as long as `registry` lives. After every (re)connection it
/// catches up on the whole set, so changes made while it was away arrive too.
pub fn watch(db: Arc<Database>, registry: &Arc<Registry>, runtime: Arc<Runtime>) {
    let registry = Arc::downgrade(registry);
    let run = move || {
        while registry.strong_count() > 0 {
            if let Err(e) = follow(&db, &registry, &runtime) {
                tracing::warn!("lost the deployments channel ({e}); reconnecting");
                std::thread::sleep(RECONNECT_AFTER);
            }
        }
    };
    std::thread::Builder::new().name("floww-deploy-watch".into()).spawn(run).expect("spawn the deploy watcher");
}

fn follow(db: &Database, registry: &Weak<Registry>, runtime: &Runtime) -> Result<(), Box<dyn std::error::Error>> {
    let mut client = db.dedicated()?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    match registry.upgrade() {
        Some(registry) => registry.refresh_all(runtime),
        None => return Ok(()),
    }
    loop {
        {
            let mut notifications = client.notifications();
            // Wakes up now and then to notice that the registry has gone.
            let mut waiting = notifications.timeout_iter(Duration::from_secs(1));
            while let Some(notification) = waiting.next()? {
                let Some(registry) = registry.upgrade() else { return Ok(()) };
                registry.refresh(runtime, notification.payload());
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
