//! Runs in PostgreSQL, shared by every host on the database. A claim takes
//! due runs with `FOR UPDATE SKIP LOCKED`, so each is invoked by one host;
//! the lease it writes is what a step's commit checks (`kv`), and a run
//! whose lease ran out (its host died mid-invocation) is claimed again.

use std::sync::Arc;

use postgres::GenericClient;

use super::{Delivered, Entry, Event, Filter, Kind, Run, RunStore, Status};
use crate::storage::postgres::{Database, ms, storage_error};
use crate::storage::{StorageError, StorageResult, now_ms};

pub struct PostgresRuns {
    db: Arc<Database>,
}

impl PostgresRuns {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

fn decode(row: &postgres::Row) -> StorageResult<Run> {
    let mut run: Run = serde_json::from_str(row.get("record")).map_err(|e| StorageError::corrupt("a run record", e))?;
    // The columns are the truth for what claims change.
    run.status = Status::parse(row.get("status")).ok_or_else(|| StorageError::failed("a run with no known status"))?;
    run.due_at = row.get::<_, Option<i64>>("due_at").map(|at| at as u64);
    Ok(run)
}

/// Run `id`, its row locked until `tx` ends.
fn locked(tx: &mut postgres::Transaction<'_>, id: &str) -> StorageResult<Option<Run>> {
    let row = tx.query_opt("SELECT status, due_at, record FROM floww_runs WHERE id = $1 FOR UPDATE", &[&id]);
    row.map_err(storage_error)?.map(|row| decode(&row)).transpose()
}

/// Writes every column of `run` (not its lease) through `client`.
fn write(client: &mut impl GenericClient, run: &Run, lease_cond: Option<&str>) -> Result<u64, postgres::Error> {
    let record = serde_json::to_string(run).expect("a run serialises");
    let due = run.due_at.map(ms);
    let ended = run.ended_at.map(ms);
    let sql = match lease_cond {
        Some(_) => {
            "UPDATE floww_runs SET status = $2, due_at = $3, ended_at = $4, record = $5, lease = NULL, \
             lease_until = NULL WHERE id = $1 AND lease = $6"
        }
        None => {
            "UPDATE floww_runs SET status = $2, due_at = $3, ended_at = $4, record = $5, lease = NULL, \
             lease_until = NULL WHERE id = $1 AND $6::text IS NULL"
        }
    };
    client.execute(sql, &[&run.id, &run.status.as_str(), &due, &ended, &record, &lease_cond])
}

impl RunStore for PostgresRuns {
    fn create(&self, run: &Run) -> StorageResult<Option<String>> {
        let mut conn = self.db.get()?;
        let record = serde_json::to_string(run).expect("a run serialises");
        let inserted = conn
            .execute(
                "INSERT INTO floww_runs (id, workflow, name, idempotency_key, status, due_at, record) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[
                    &run.id,
                    &run.workflow,
                    &run.name,
                    &run.idempotency_key,
                    &run.status.as_str(),
                    &run.due_at.map(ms),
                    &record,
                ],
            )
            .map_err(storage_error)?;
        if inserted == 1 {
            return Ok(None);
        }
        let holder = conn
            .query_opt(
                "SELECT id FROM floww_runs WHERE workflow = $1 AND name = $2 AND idempotency_key = $3",
                &[&run.workflow, &run.name, &run.idempotency_key],
            )
            .map_err(storage_error)?;
        holder.map(|row| Some(row.get(0))).ok_or_else(|| StorageError::failed("a run id was used twice"))
    }

    fn get(&self, id: &str) -> StorageResult<Option<Run>> {
        let row = self.db.get()?.query_opt("SELECT status, due_at, record FROM floww_runs WHERE id = $1", &[&id]);
        row.map_err(storage_error)?.map(|row| decode(&row)).transpose()
    }

    fn list(&self, filter: &Filter, limit: usize) -> StorageResult<Vec<Run>> {
        let rows = self.db.get()?.query(
            "SELECT status, due_at, record FROM floww_runs \
             WHERE ($1::text IS NULL OR workflow = $1) AND ($2::text IS NULL OR status = $2) \
             AND ($3::text IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
            &[&filter.workflow, &filter.status.map(Status::as_str), &filter.before, &(limit as i64)],
        );
        rows.map_err(storage_error)?.iter().map(decode).collect()
    }

    fn journal(&self, id: &str) -> StorageResult<Vec<Entry>> {
        let rows = self.db.get()?.query("SELECT entry FROM floww_run_journal WHERE run_id = $1 ORDER BY idx", &[&id]);
        rows.map_err(storage_error)?
            .iter()
            .map(|row| serde_json::from_str(row.get(0)).map_err(|e| StorageError::corrupt("a journal entry", e)))
            .collect()
    }

    fn events(&self, id: &str, name: &str) -> StorageResult<Vec<Event>> {
        let rows = self.db.get()?.query(
            "SELECT seq, payload FROM floww_run_events WHERE run_id = $1 AND name = $2 ORDER BY seq",
            &[&id, &name],
        );
        Ok(rows
            .map_err(storage_error)?
            .iter()
            .map(|row| Event { seq: row.get::<_, i64>(0) as u64, name: name.to_owned(), payload: row.get(1) })
            .collect())
    }

    fn add_event(&self, id: &str, name: &str, payload: &str, now: u64) -> StorageResult<Delivered> {
        let mut conn = self.db.get()?;
        let mut tx = conn.transaction().map_err(storage_error)?;
        let Some(run) = locked(&mut tx, id)? else { return Ok(Delivered::NoRun) };
        if run.status.is_final() {
            return Ok(Delivered::Ended(run.status));
        }
        tx.execute("INSERT INTO floww_run_events (run_id, name, payload) VALUES ($1, $2, $3)", &[&id, &name, &payload])
            .map_err(storage_error)?;
        // The row stays locked until the event commits: a release that
        // writes `waiting` either came first (and the update below wakes the
        // run) or waits, and then its check finds the event.
        tx.execute(
            "UPDATE floww_runs SET due_at = $2 WHERE id = $1 AND status = 'waiting' \
             AND (record::jsonb -> 'pending' ->> 'name') = $3 AND (record::jsonb -> 'pending' ->> 'kind') = 'event'",
            &[&id, &ms(now), &name],
        )
        .map_err(storage_error)?;
        tx.commit().map_err(storage_error)?;
        Ok(Delivered::Kept)
    }

    fn claim(&self, now: u64, lease: &str, lease_until: u64, limit: usize) -> StorageResult<Vec<Run>> {
        let rows = self.db.get()?.query(
            "UPDATE floww_runs SET status = 'running', due_at = NULL, lease = $2, lease_until = $3 \
             WHERE id IN (SELECT id FROM floww_runs \
                 WHERE (due_at <= $1 AND status <> 'running') OR (status = 'running' AND lease_until <= $1) \
                 ORDER BY due_at NULLS FIRST LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING status, due_at, record",
            &[&ms(now), &lease, &ms(lease_until), &(limit as i64)],
        );
        rows.map_err(storage_error)?.iter().map(decode).collect()
    }

    fn next_due(&self) -> StorageResult<Option<u64>> {
        let row = self
            .db
            .get()?
            .query_one(
                "SELECT least((SELECT min(due_at) FROM floww_runs WHERE due_at IS NOT NULL), \
                 (SELECT min(lease_until) FROM floww_runs WHERE status = 'running'))",
                &[],
            )
            .map_err(storage_error)?;
        Ok(row.get::<_, Option<i64>>(0).map(|at| at as u64))
    }

    fn release(&self, run: &Run, lease: &str) -> StorageResult<bool> {
        let mut conn = self.db.get()?;
        let mut tx = conn.transaction().map_err(storage_error)?;
        // The update first: it locks the row, so an event sent meanwhile is
        // either seen below or waits and then finds the run waiting.
        if write(&mut tx, run, Some(lease)).map_err(storage_error)? == 0 {
            return Ok(false);
        }
        if run.status == Status::Waiting
            && let Some(p) = run.pending.as_ref().filter(|p| p.kind == Kind::Event)
        {
            tx.execute(
                "UPDATE floww_runs SET due_at = $2 WHERE id = $1 AND EXISTS (SELECT 1 FROM floww_run_events \
                 WHERE run_id = $1 AND name = $3 AND seq > $4)",
                &[&run.id, &ms(now_ms()), &p.name, &ms(p.after_seq)],
            )
            .map_err(storage_error)?;
        }
        tx.commit().map_err(storage_error)?;
        Ok(true)
    }

    fn update(&self, id: &str, change: &mut dyn FnMut(&mut Run) -> Option<u32>) -> StorageResult<Option<Run>> {
        let mut conn = self.db.get()?;
        let mut tx = conn.transaction().map_err(storage_error)?;
        let Some(mut run) = locked(&mut tx, id)? else { return Ok(None) };
        if let Some(truncate) = change(&mut run) {
            write(&mut tx, &run, None).map_err(storage_error)?;
            tx.execute(
                "DELETE FROM floww_run_journal WHERE run_id = $1 AND idx >= $2",
                &[&id, &i32::try_from(truncate).unwrap_or(i32::MAX)],
            )
            .map_err(storage_error)?;
            tx.commit().map_err(storage_error)?;
        }
        Ok(Some(run))
    }

    fn prune(&self, before: u64) -> StorageResult<usize> {
        let mut conn = self.db.get()?;
        let mut tx = conn.transaction().map_err(storage_error)?;
        let gone = tx
            .query("DELETE FROM floww_runs WHERE ended_at < $1 RETURNING id", &[&ms(before)])
            .map_err(storage_error)?;
        let ids: Vec<String> = gone.iter().map(|row| row.get(0)).collect();
        tx.execute("DELETE FROM floww_run_journal WHERE run_id = ANY($1)", &[&ids]).map_err(storage_error)?;
        tx.execute("DELETE FROM floww_run_events WHERE run_id = ANY($1)", &[&ids]).map_err(storage_error)?;
        tx.commit().map_err(storage_error)?;
        Ok(ids.len())
    }
}
