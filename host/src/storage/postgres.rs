//! PostgreSQL (`--store postgres://…`): the connection pool, the schema and
//! what its errors mean. The KV items, deployments, execution records and
//! cron ticks of every host that names the same database live here, so those
//! hosts serve the same workflows over the same data.
//!
//! Storage calls run on blocking threads (`spawn_blocking`, also for a
//! guest's KV calls), so this uses the blocking client; a pool bounds the
//! connections and how long a call waits for one.

use std::time::Duration;

use postgres::NoTls;
use postgres::error::SqlState;
use r2d2_postgres::PostgresConnectionManager;

use super::{StorageError, StorageResult};

pub type Connection = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// How long a call waits for a connection (or to make one) before it fails
/// as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest one statement may run; a stuck database can't hold an execution.
const STATEMENT_TIMEOUT_MS: u32 = 10_000;

/// The advisory lock taken while migrating, so hosts starting together
/// migrate one at a time.
const MIGRATION_LOCK: i64 = 0x466c_6f77_7701;

/// The schema, one step per release that changed it; a database records how
/// many steps it has taken.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE floww_kv_tables (
        name text COLLATE "C" PRIMARY KEY,
        owner text NOT NULL
    );
    CREATE TABLE floww_kv_grants (
        tbl text COLLATE "C" NOT NULL,
        workflow text COLLATE "C" NOT NULL,
        can_read boolean NOT NULL,
        can_write boolean NOT NULL,
        PRIMARY KEY (tbl, workflow)
    );
    CREATE INDEX floww_kv_grants_by_workflow ON floww_kv_grants (workflow, tbl);
    CREATE SEQUENCE floww_kv_versions;
    CREATE TABLE floww_kv_items (
        tbl text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        value text NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        version bigint NOT NULL,
        expires_at bigint,
        PRIMARY KEY (tbl, key)
    );
    CREATE INDEX floww_kv_items_expiry ON floww_kv_items (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE floww_components (
        sha256 text PRIMARY KEY,
        bytes bytea NOT NULL
    );
    CREATE TABLE floww_workflows (
        id text PRIMARY KEY,
        manifest text NOT NULL,
        sha256 text NOT NULL REFERENCES floww_components (sha256)
    );
    CREATE TABLE floww_executions (
        id text COLLATE "C" PRIMARY KEY,
        record text NOT NULL
    );
    CREATE TABLE floww_cron_ticks (
        workflow text NOT NULL,
        schedule text NOT NULL,
        last_tick bigint NOT NULL,
        PRIMARY KEY (workflow, schedule)
    );
"#,
    r#"
    CREATE TABLE floww_secrets (
        workflow text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        sealed bytea NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (workflow, name)
    );
    CREATE TABLE floww_meta (
        key text PRIMARY KEY,
        value bytea NOT NULL
    );
"#,
    // Durable runs: `record` is the run as JSON; the columns beside it are
    // what claims, listings and leases query.
    r#"
    CREATE TABLE floww_runs (
        id text COLLATE "C" PRIMARY KEY,
        workflow text COLLATE "C" NOT NULL,
        name text NOT NULL,
        idempotency_key text,
        status text NOT NULL,
        due_at bigint,
        lease text,
        lease_until bigint,
        ended_at bigint,
        record text NOT NULL
    );
    CREATE UNIQUE INDEX floww_runs_by_key ON floww_runs (workflow, name, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX floww_runs_due ON floww_runs (due_at) WHERE due_at IS NOT NULL;
    CREATE INDEX floww_runs_leased ON floww_runs (lease_until) WHERE status = 'running';
    CREATE INDEX floww_runs_by_workflow ON floww_runs (workflow, id);
    CREATE TABLE floww_run_journal (
        run_id text COLLATE "C" NOT NULL,
        idx integer NOT NULL,
        entry text NOT NULL,
        PRIMARY KEY (run_id, idx)
    );
    CREATE TABLE floww_run_events (
        seq bigserial PRIMARY KEY,
        run_id text COLLATE "C" NOT NULL,
        name text NOT NULL,
        payload text NOT NULL
    );
    CREATE INDEX floww_run_events_by_run ON floww_run_events (run_id, name, seq);
"#,
];

/// A pool of connections to one database whose schema is up to date.
pub struct Database {
    pool: r2d2::Pool<PostgresConnectionManager<NoTls>>,
    config: postgres::Config,
}

impl Database {
    /// Connects with at most `max_connections` and migrates the schema.
    pub fn connect(url: &str, max_connections: u32) -> anyhow::Result<Database> {
        let mut config: postgres::Config = url.parse().map_err(|e| anyhow::anyhow!("bad PostgreSQL URL: {e}"))?;
        // Keepalives find a database that vanished without closing its
        // connections (a crashed machine, a partition) within about 25 s: the
        // idle `LISTEN` connection would otherwise wait for it for good.
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("floww")
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3);
        if config.get_options().is_none() {
            config.options(&format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}"));
        }
        // One connection first: it says why it failed (refused, bad password,
        // no such database) where the pool would only say it timed out.
        let mut first =
            config.connect(NoTls).map_err(|e| anyhow::anyhow!("could not connect to PostgreSQL: {}", why(&e)))?;
        migrate(&mut first).map_err(|e| anyhow::anyhow!("could not migrate the PostgreSQL schema: {e}"))?;
        let manager = PostgresConnectionManager::new(config.clone(), NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(max_connections)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            // A broken connection shows itself on use and is then dropped;
            // testing each one on checkout would cost a round trip per call.
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager);
        Ok(Database { pool, config })
    }

    /// A pooled connection, or [`StorageError::Unavailable`] after a short wait.
    pub fn get(&self) -> StorageResult<Connection> {
        self.pool.get().map_err(|e| StorageError::Unavailable(format!("no PostgreSQL connection: {e}")))
    }

    /// A connection of its own, outside the pool: for `LISTEN`.
    pub fn dedicated(&self) -> StorageResult<postgres::Client> {
        self.config.connect(NoTls).map_err(storage_error)
    }
}

fn migrate(client: &mut postgres::Client) -> StorageResult<()> {
    let mut tx = client.transaction().map_err(storage_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(storage_error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS floww_schema (steps integer NOT NULL)").map_err(storage_error)?;
    let taken = tx.query_opt("SELECT steps FROM floww_schema", &[]).map_err(storage_error)?;
    let taken = taken.map_or(0, |row| row.get::<_, i32>(0)) as usize;
    if taken > MIGRATIONS.len() {
        return Err(StorageError::failed(format!(
            "the database's schema is at step {taken}, newer than this floww knows ({}); upgrade floww",
            MIGRATIONS.len()
        )));
    }
    for step in &MIGRATIONS[taken..] {
        tx.batch_execute(step).map_err(storage_error)?;
    }
    tx.execute("DELETE FROM floww_schema", &[]).map_err(storage_error)?;
    tx.execute("INSERT INTO floww_schema (steps) VALUES ($1)", &[&(MIGRATIONS.len() as i32)]).map_err(storage_error)?;
    tx.commit().map_err(storage_error)
}

/// A PostgreSQL error as a storage error: lost or refused connections and a
/// server shutting down are [`StorageError::Unavailable`].
pub fn storage_error(e: postgres::Error) -> StorageError {
    let unreachable = e.is_closed()
        || e.code().is_some_and(|code| {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P") || code == SqlState::TOO_MANY_CONNECTIONS.code()
        })
        || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if unreachable { StorageError::Unavailable(e.to_string()) } else { StorageError::failed(e) }
}

/// An error with its causes, e.g. "error connecting to server: Connection refused".
fn why(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Whether a transaction lost a race it can win by running again: a
/// serialization failure, a deadlock, or a row another writer inserted first.
pub fn is_retryable(e: &postgres::Error) -> bool {
    e.code().is_some_and(|code| {
        [SqlState::T_R_SERIALIZATION_FAILURE, SqlState::T_R_DEADLOCK_DETECTED, SqlState::UNIQUE_VIOLATION]
            .contains(code)
    })
}

/// Milliseconds as PostgreSQL's `bigint`.
pub fn ms(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ScratchDatabase;

    #[test]
    fn a_database_migrated_by_a_newer_floww_is_refused() {
        let scratch = ScratchDatabase::create();
        drop(Database::connect(&scratch.url(), 1).unwrap());
        let mut client = postgres::Client::connect(&scratch.url(), NoTls).unwrap();
        client.batch_execute("UPDATE floww_schema SET steps = 99").unwrap();
        let err = Database::connect(&scratch.url(), 1).err().unwrap().to_string();
        assert_eq!(
            err,
            format!(
                "could not migrate the PostgreSQL schema: storage backend failed: the database's schema is at \
                 step 99, newer than this floww knows ({}); upgrade floww",
                MIGRATIONS.len()
            )
        );
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let scratch = ScratchDatabase::create();
        drop(Database::connect(&scratch.url(), 1).unwrap());
        drop(Database::connect(&scratch.url(), 1).unwrap());
        let mut client = postgres::Client::connect(&scratch.url(), NoTls).unwrap();
        let steps: i32 = client.query_one("SELECT steps FROM floww_schema", &[]).unwrap().get(0);
        assert_eq!(steps as usize, MIGRATIONS.len());
    }
}
