//! The shared backend: tables, grants and items in PostgreSQL, so several
//! hosts serve one store (schema in `database`).
//!
//! A group of writes is one transaction. Each write locks its item's row
//! (`SELECT … FOR UPDATE`) before deciding, so concurrent increments and
//! compare-and-swaps on any host serialise on the row; a row that another
//! transaction inserts first, or a deadlock between two groups, makes the
//! group run again from the start. Versions come from one sequence, so they
//! are unique across the store and never reused. Keys use the "C" collation:
//! listings come in byte order, as sled's do.

use std::sync::Arc;

use postgres::Transaction;
use postgres::types::{ToSql, Type};

use super::backend::{Access, Backend, Item, Listed, Range, Write, WriteError, WriteFailure, Written};
use super::staging::{StepCommit, StepFailure};
use crate::storage::StorageResult;
use crate::storage::postgres::{Database, is_retryable, ms, storage_error};

/// How often a group of writes is run again after losing a race.
const ATTEMPTS: usize = 20;
/// Greater than every character a key may hold, to bound a prefix scan.
const AFTER_EVERY_KEY_CHAR: char = '\u{7f}';

pub struct PostgresBackend {
    db: Arc<Database>,
}

impl PostgresBackend {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

/// A statement's parameters with their types: typed queries take one round
/// trip, where untyped ones first prepare (and then close) a statement.
type Params<'a> = [(&'a (dyn ToSql + Sync), Type)];

const ITEM_COLUMNS: &str = "key, value, created_at, updated_at, version, expires_at";

fn item(row: &postgres::Row) -> Item {
    let n = |i: usize| row.get::<_, i64>(i) as u64;
    Item {
        key: row.get(0),
        value: row.get(1),
        created_at: n(2),
        updated_at: n(3),
        version: n(4),
        expires_at: row.get::<_, Option<i64>>(5).map(|at| at as u64),
    }
}

/// Why a group stopped inside its transaction.
enum Stop {
    Failed { index: usize, failure: WriteFailure },
    Db(postgres::Error),
}

impl From<postgres::Error> for Stop {
    fn from(e: postgres::Error) -> Self {
        Stop::Db(e)
    }
}

fn write_group(
    tx: &mut Transaction<'_>,
    owner: &str,
    new_tables: &[&str],
    writes: &[Write<'_>],
    now_ms: u64,
) -> Result<Vec<Written>, Stop> {
    for table in new_tables {
        let created = tx.execute_typed(
            "INSERT INTO floww_kv_tables (name, owner) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[(table, Type::TEXT), (&owner, Type::TEXT)],
        )?;
        if created == 0 {
            return Err(Stop::Failed { index: 0, failure: WriteFailure::TableTaken });
        }
    }
    // Share-lock the other tables until commit, so a drop waits for this
    // group or this group finds the table gone; in name order, as drops lock.
    let mut existing: Vec<&str> = writes.iter().map(|w| w.table()).filter(|t| !new_tables.contains(t)).collect();
    existing.sort_unstable();
    existing.dedup();
    if !existing.is_empty() {
        let found = tx.query_typed(
            "SELECT name FROM floww_kv_tables WHERE name = ANY($1) ORDER BY name FOR SHARE",
            &[(&existing, Type::TEXT_ARRAY)],
        )?;
        if found.len() < existing.len() {
            let found: Vec<String> = found.iter().map(|row| row.get(0)).collect();
            let index =
                writes.iter().position(|w| !new_tables.contains(&w.table()) && !found.iter().any(|f| f == w.table()));
            return Err(Stop::Failed { index: index.unwrap_or(0), failure: WriteFailure::TableGone });
        }
    }
    let mut written = Vec::with_capacity(writes.len());
    for (index, write) in writes.iter().enumerate() {
        let (table, key) = (write.table(), write.key());
        let locked = tx.query_typed_opt(
            &format!("SELECT {ITEM_COLUMNS} FROM floww_kv_items WHERE tbl = $1 AND key = $2 FOR UPDATE"),
            &[(&table, Type::TEXT), (&key, Type::TEXT)],
        )?;
        let exists = locked.is_some();
        let old = locked.map(|row| item(&row)).filter(|item| item.is_live(now_ms));
        let change = write.change(old.as_ref(), now_ms).map_err(|failure| Stop::Failed { index, failure })?;
        let version = match change.stored() {
            Some((value, expires_at)) => {
                let (created_at, updated_at) = (ms(old.as_ref().map_or(now_ms, |o| o.created_at)), ms(now_ms));
                let expires_at = expires_at.map(ms);
                let params: &Params = &[
                    (&table, Type::TEXT),
                    (&key, Type::TEXT),
                    (&value, Type::TEXT),
                    (&created_at, Type::INT8),
                    (&updated_at, Type::INT8),
                    (&expires_at, Type::INT8),
                ];
                // Not there when locked: insert, and lose (then retry) if
                // another transaction inserts it first.
                let sql = if exists {
                    "UPDATE floww_kv_items SET value = $3, created_at = $4, updated_at = $5, \
                     version = nextval('floww_kv_versions'), expires_at = $6 \
                     WHERE tbl = $1 AND key = $2 RETURNING version"
                } else {
                    "INSERT INTO floww_kv_items (tbl, key, value, created_at, updated_at, version, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, nextval('floww_kv_versions'), $6) RETURNING version"
                };
                tx.query_typed_one(sql, params)?.get::<_, i64>(0) as u64
            }
            None => {
                tx.execute_typed(
                    "DELETE FROM floww_kv_items WHERE tbl = $1 AND key = $2",
                    &[(&table, Type::TEXT), (&key, Type::TEXT)],
                )?;
                0
            }
        };
        written.push(write.written(&change, version));
    }
    Ok(written)
}

/// Why a step's commit stopped inside its transaction.
enum StepStop {
    Failed(StepFailure),
    Db(postgres::Error),
}

impl From<postgres::Error> for StepStop {
    fn from(e: postgres::Error) -> Self {
        StepStop::Db(e)
    }
}

fn commit_group(tx: &mut Transaction<'_>, commit: &StepCommit<'_>, now_ms: u64) -> Result<(), StepStop> {
    let j = commit.journal;
    let fail = |failure| Err(StepStop::Failed(failure));
    // The run's row stays locked to the commit: a cancel or a takeover waits
    // for it, or it finds the lease gone.
    let leased = tx.query_typed_opt(
        "SELECT 1 FROM floww_runs WHERE id = $1 AND lease = $2 FOR UPDATE",
        &[(&j.run, Type::TEXT), (&j.lease, Type::TEXT)],
    )?;
    if leased.is_none() {
        return fail(StepFailure::LeaseLost);
    }
    for table in &commit.new_tables {
        let created = tx.execute_typed(
            "INSERT INTO floww_kv_tables (name, owner) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[(table, Type::TEXT), (&commit.owner, Type::TEXT)],
        )?;
        if created == 0 {
            return fail(StepFailure::TableTaken((*table).to_owned()));
        }
    }
    let mut existing: Vec<&str> =
        commit.staged.iter().map(|(t, _, _)| *t).filter(|t| !commit.new_tables.contains(t)).collect();
    existing.dedup();
    if !existing.is_empty() {
        let found: Vec<String> = tx
            .query_typed(
                "SELECT name FROM floww_kv_tables WHERE name = ANY($1) ORDER BY name FOR SHARE",
                &[(&existing, Type::TEXT_ARRAY)],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if let Some(gone) = existing.iter().find(|t| !found.iter().any(|f| f == *t)) {
            return fail(StepFailure::TableGone((*gone).to_owned()));
        }
    }
    let now = ms(now_ms);
    for (table, key, version) in &commit.seen {
        let live = tx.query_typed_opt(
            "SELECT version FROM floww_kv_items WHERE tbl = $1 AND key = $2 \
             AND (expires_at IS NULL OR expires_at > $3) FOR UPDATE",
            &[(table, Type::TEXT), (key, Type::TEXT), (&now, Type::INT8)],
        )?;
        if live.map(|row| row.get::<_, i64>(0) as u64) != *version {
            return fail(StepFailure::Changed { table: (*table).to_owned(), key: (*key).to_owned() });
        }
    }
    for (table, key, item) in &commit.staged {
        match item {
            Some(item) => {
                let (created, updated, version) = (ms(item.created_at), ms(item.updated_at), ms(item.version));
                let expires_at = item.expires_at.map(ms);
                tx.execute_typed(
                    "INSERT INTO floww_kv_items (tbl, key, value, created_at, updated_at, version, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tbl, key) DO UPDATE SET value = $3, \
                     created_at = $4, updated_at = $5, version = $6, expires_at = $7",
                    &[
                        (table, Type::TEXT),
                        (key, Type::TEXT),
                        (&item.value, Type::TEXT),
                        (&created, Type::INT8),
                        (&updated, Type::INT8),
                        (&version, Type::INT8),
                        (&expires_at, Type::INT8),
                    ],
                )?;
            }
            None => {
                tx.execute_typed(
                    "DELETE FROM floww_kv_items WHERE tbl = $1 AND key = $2",
                    &[(table, Type::TEXT), (key, Type::TEXT)],
                )?;
            }
        }
    }
    let index = j.index as i32;
    let appended = tx.execute_typed(
        "INSERT INTO floww_run_journal (run_id, idx, entry) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[(&j.run, Type::TEXT), (&index, Type::INT4), (&j.entry, Type::TEXT)],
    )?;
    if appended == 0 {
        return fail(StepFailure::LeaseLost);
    }
    Ok(())
}

impl PostgresBackend {
    /// A listing's rows: keys in `range` of `table`, live at `now_ms`, in
    /// key order, one more than the limit to tell whether more follow.
    fn scan(&self, columns: &str, table: &str, range: Range<'_>, now_ms: u64) -> StorageResult<Vec<postgres::Row>> {
        self.query_range(&scan_sql(columns), table, range, now_ms, &[])
    }

    /// Runs `sql` (built on [`scan_sql`]) with the range's parameters ($1
    /// to $6), then `more` ($7 on).
    fn query_range(
        &self,
        sql: &str,
        table: &str,
        range: Range<'_>,
        now_ms: u64,
        more: &Params,
    ) -> StorageResult<Vec<postgres::Row>> {
        let upper = format!("{}{AFTER_EVERY_KEY_CHAR}", range.prefix);
        let after = range.after.unwrap_or_default();
        let limit = i64::try_from(range.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let now = ms(now_ms);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&table, Type::TEXT),
            (&range.prefix, Type::TEXT),
            (&upper, Type::TEXT),
            (&after, Type::TEXT),
            (&now, Type::INT8),
            (&limit, Type::INT8),
        ];
        params.extend_from_slice(more);
        self.db.get()?.query_typed(sql, &params).map_err(storage_error)
    }
}

/// The query for `columns` of the live items of a range: table $1, keys from
/// $2 (the prefix) to $3 and after $4, live at $5, at most $6 rows.
fn scan_sql(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM floww_kv_items \
         WHERE tbl = $1 AND key >= $2 AND key < $3 AND key > $4 \
         AND (expires_at IS NULL OR expires_at > $5) ORDER BY key LIMIT $6"
    )
}

/// Cuts `rows` to `limit`, noting whether more followed.
fn page<T>(mut entries: Vec<T>, limit: usize) -> Listed<T> {
    let more = entries.len() > limit;
    entries.truncate(limit);
    Listed { entries, more }
}

impl Backend for PostgresBackend {
    /// Every call is a round trip to the database.
    fn reads_wait(&self) -> bool {
        true
    }

    fn table_owner(&self, table: &str) -> StorageResult<Option<String>> {
        let row = self
            .db
            .get()?
            .query_typed_opt("SELECT owner FROM floww_kv_tables WHERE name = $1", &[(&table, Type::TEXT)]);
        Ok(row.map_err(storage_error)?.map(|row| row.get(0)))
    }

    fn tables(&self) -> StorageResult<Vec<(String, String)>> {
        let rows = self.db.get()?.query("SELECT name, owner FROM floww_kv_tables ORDER BY name", &[]);
        Ok(rows.map_err(storage_error)?.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn grant(&self, table: &str, workflow: &str) -> StorageResult<Option<Access>> {
        let row = self.db.get()?.query_typed_opt(
            "SELECT can_read, can_write FROM floww_kv_grants WHERE tbl = $1 AND workflow = $2",
            &[(&table, Type::TEXT), (&workflow, Type::TEXT)],
        );
        Ok(row.map_err(storage_error)?.map(|row| Access { read: row.get(0), write: row.get(1) }))
    }

    fn grants(&self, table: &str) -> StorageResult<Vec<(String, Access)>> {
        let rows = self.db.get()?.query(
            "SELECT workflow, can_read, can_write FROM floww_kv_grants WHERE tbl = $1 ORDER BY workflow",
            &[&table],
        );
        Ok(rows
            .map_err(storage_error)?
            .iter()
            .map(|row| (row.get(0), Access { read: row.get(1), write: row.get(2) }))
            .collect())
    }

    fn granted_tables(&self, workflow: &str) -> StorageResult<Vec<String>> {
        let rows =
            self.db.get()?.query("SELECT tbl FROM floww_kv_grants WHERE workflow = $1 ORDER BY tbl", &[&workflow]);
        Ok(rows.map_err(storage_error)?.iter().map(|row| row.get(0)).collect())
    }

    fn put_grant(&self, table: &str, owner: &str, workflow: &str, access: Access) -> StorageResult<bool> {
        // The table's row stays share-locked until the grant commits, so a
        // drop either waits for it or leaves nothing to grant on.
        let granted = self.db.get()?.execute(
            "WITH owned AS (SELECT name FROM floww_kv_tables WHERE name = $1 AND owner = $5 FOR SHARE) \
             INSERT INTO floww_kv_grants (tbl, workflow, can_read, can_write) SELECT name, $2, $3, $4 FROM owned \
             ON CONFLICT (tbl, workflow) DO UPDATE SET can_read = $3, can_write = $4",
            &[&table, &workflow, &access.read, &access.write, &owner],
        );
        Ok(granted.map_err(storage_error)? > 0)
    }

    fn drop_table(&self, table: &str, owner: &str) -> StorageResult<bool> {
        let mut conn = self.db.get()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dropped = conn.transaction().and_then(|mut tx| {
                let owned = tx.query_opt(
                    "SELECT 1 FROM floww_kv_tables WHERE name = $1 AND owner = $2 FOR UPDATE",
                    &[&table, &owner],
                )?;
                if owned.is_none() {
                    return Ok(false);
                }
                tx.execute("DELETE FROM floww_kv_items WHERE tbl = $1", &[&table])?;
                tx.execute("DELETE FROM floww_kv_grants WHERE tbl = $1", &[&table])?;
                tx.execute("DELETE FROM floww_kv_tables WHERE name = $1", &[&table])?;
                tx.commit()?;
                Ok(true)
            });
            match dropped {
                Err(e) if is_retryable(&e) && attempt < ATTEMPTS => continue,
                done => return done.map_err(storage_error),
            }
        }
    }

    fn remove_grant(&self, table: &str, workflow: &str) -> StorageResult<bool> {
        let removed = self
            .db
            .get()?
            .execute("DELETE FROM floww_kv_grants WHERE tbl = $1 AND workflow = $2", &[&table, &workflow]);
        Ok(removed.map_err(storage_error)? > 0)
    }

    fn get(&self, table: &str, key: &str, now_ms: u64) -> StorageResult<Option<Item>> {
        let now = ms(now_ms);
        let row = self.db.get()?.query_typed_opt(
            &format!(
                "SELECT {ITEM_COLUMNS} FROM floww_kv_items WHERE tbl = $1 AND key = $2 \
                 AND (expires_at IS NULL OR expires_at > $3)"
            ),
            &[(&table, Type::TEXT), (&key, Type::TEXT), (&now, Type::INT8)],
        );
        Ok(row.map_err(storage_error)?.map(|row| item(&row)))
    }

    fn write(
        &self,
        owner: &str,
        new_tables: &[&str],
        writes: &[Write<'_>],
        now_ms: u64,
    ) -> Result<Vec<Written>, WriteError> {
        let mut conn = self.db.get()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = conn.transaction().map_err(storage_error)?;
            let done = write_group(&mut tx, owner, new_tables, writes, now_ms).and_then(|written| {
                tx.commit()?;
                Ok(written)
            });
            match done {
                Ok(written) => return Ok(written),
                Err(Stop::Failed { index, failure }) => return Err(WriteError::Failed { index, failure }),
                Err(Stop::Db(e)) if is_retryable(&e) && attempt < ATTEMPTS => continue,
                Err(Stop::Db(e)) => return Err(storage_error(e).into()),
            }
        }
    }

    fn keys(&self, table: &str, range: Range<'_>, now_ms: u64) -> StorageResult<Listed<String>> {
        let rows = self.scan("key", table, range, now_ms)?;
        Ok(page(rows.iter().map(|row| row.get(0)).collect(), range.limit))
    }

    fn items(&self, table: &str, range: Range<'_>, now_ms: u64) -> StorageResult<Listed<Item>> {
        // The database sums the sizes and sends rows only up to the first
        // that crosses `max_bytes` (and the second row, which tells whether
        // a first row that crosses it alone is the last).
        let carried = format!(
            "{ITEM_COLUMNS}, sum(octet_length(key) + octet_length(value)) OVER (ORDER BY key) AS carried, \
             octet_length(key) + octet_length(value) AS size, row_number() OVER (ORDER BY key) AS n"
        );
        let sql = format!(
            "SELECT {ITEM_COLUMNS}, carried FROM ({}) page WHERE carried - size <= $7 OR n <= 2 ORDER BY key",
            scan_sql(&carried)
        );
        let max_bytes = i64::try_from(range.max_bytes).unwrap_or(i64::MAX);
        let rows = self.query_range(&sql, table, range, now_ms, &[(&max_bytes, Type::INT8)])?;
        let mut entries: Vec<Item> = Vec::new();
        for row in &rows {
            if !entries.is_empty() && row.get::<_, i64>(6) as usize > range.max_bytes {
                return Ok(Listed { entries, more: true });
            }
            entries.push(item(row));
        }
        Ok(page(entries, range.limit))
    }

    fn reserve_version(&self) -> StorageResult<u64> {
        let row = self.db.get()?.query_one("SELECT nextval('floww_kv_versions')", &[]).map_err(storage_error)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn commit_step(&self, commit: &StepCommit<'_>, now_ms: u64) -> Result<(), StepFailure> {
        let mut conn = self.db.get()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = conn.transaction().map_err(storage_error)?;
            let done = commit_group(&mut tx, commit, now_ms).and_then(|()| Ok(tx.commit()?));
            match done {
                Ok(()) => return Ok(()),
                Err(StepStop::Failed(failure)) => return Err(failure),
                Err(StepStop::Db(e)) if is_retryable(&e) && attempt < ATTEMPTS => continue,
                Err(StepStop::Db(e)) => return Err(storage_error(e).into()),
            }
        }
    }

    fn remove_expired(&self, now_ms: u64) -> StorageResult<usize> {
        // A row renewed meanwhile is locked by its writer; DELETE re-checks
        // the condition after the lock, so a renewed item stays.
        let removed = self.db.get()?.execute("DELETE FROM floww_kv_items WHERE expires_at <= $1", &[&ms(now_ms)]);
        Ok(removed.map_err(storage_error)? as usize)
    }
}
