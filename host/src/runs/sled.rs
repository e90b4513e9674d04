//! Runs in the host's sled database, beside the KV data (whose steps commit
//! into the same journal and lease trees).
//!
//! Trees: `runs` (id → run JSON), `run-keys` (workflow NUL name NUL key →
//! id), `run-due` (due-at as 8 big-endian bytes, then the id → nothing),
//! `run-events` (id NUL seq → name NUL payload), and the journal and
//! leases of `storage`. One process holds the database, so changes are
//! serialised by a lock, and a run found `running` when the store opens was
//! cut short by a crash: it is due again at once.

use std::sync::Mutex;

use super::{Delivered, Entry, Event, Filter, Kind, Run, RunStore, Status};
use crate::storage::{RUN_JOURNAL_TREE, RUN_LEASES_TREE, StorageError, StorageResult, now_ms};

const SEP: u8 = 0;

pub struct SledRuns {
    db: sled::Db,
    runs: sled::Tree,
    keys: sled::Tree,
    due: sled::Tree,
    events: sled::Tree,
    journal: sled::Tree,
    leases: sled::Tree,
    /// Makes each read-change-write one step.
    changing: Mutex<()>,
}

fn failed(e: impl std::fmt::Display) -> StorageError {
    StorageError::failed(format!("run records: {e}"))
}

fn joined(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&SEP)
}

fn due_key(at: u64, id: &str) -> Vec<u8> {
    let mut k = at.to_be_bytes().to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

impl SledRuns {
    /// Opens the runs kept in `db`, making those a crash cut short due now.
    pub fn open(db: &sled::Db) -> StorageResult<SledRuns> {
        let open = |name: &str| db.open_tree(name).map_err(failed);
        let store = SledRuns {
            db: db.clone(),
            runs: open("runs")?,
            keys: open("run-keys")?,
            due: open("run-due")?,
            events: open("run-events")?,
            journal: open(RUN_JOURNAL_TREE)?,
            leases: open(RUN_LEASES_TREE)?,
            changing: Mutex::new(()),
        };
        let now = now_ms();
        for entry in store.runs.iter() {
            let (_, bytes) = entry.map_err(failed)?;
            let mut run = decode(&bytes)?;
            if run.status == Status::Running {
                run.due_at = Some(now);
                run.status = Status::Queued;
                store.write(&run)?;
            }
        }
        store.leases.clear().map_err(failed)?;
        store.flush()?;
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn flush(&self) -> StorageResult<()> {
        self.db.flush().map(drop).map_err(failed)
    }

    fn read(&self, id: &str) -> StorageResult<Option<Run>> {
        self.runs.get(id).map_err(failed)?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Stores `run` and its due entry, replacing the one of its last version.
    fn write(&self, run: &Run) -> StorageResult<()> {
        if let Some(old) = self.read(&run.id)?
            && let Some(at) = old.due_at
        {
            self.due.remove(due_key(at, &old.id)).map_err(failed)?;
        }
        if let Some(at) = run.due_at {
            self.due.insert(due_key(at, &run.id), &[]).map_err(failed)?;
        }
        let bytes = serde_json::to_vec(run).map_err(failed)?;
        self.runs.insert(run.id.as_bytes(), bytes).map_err(failed)?;
        Ok(())
    }

    fn truncate_journal(&self, id: &str, from: u32) -> StorageResult<()> {
        let start = joined(&[id.as_bytes(), &from.to_be_bytes()]);
        let end = joined(&[id.as_bytes(), &[0xff; 5]]);
        for entry in self.journal.range(start..end) {
            self.journal.remove(entry.map_err(failed)?.0).map_err(failed)?;
        }
        Ok(())
    }

    fn remove_run(&self, run: &Run) -> StorageResult<()> {
        self.truncate_journal(&run.id, 0)?;
        for entry in self.events.scan_prefix(joined(&[run.id.as_bytes(), b""])) {
            self.events.remove(entry.map_err(failed)?.0).map_err(failed)?;
        }
        if let Some(key) = &run.idempotency_key {
            self.keys
                .remove(joined(&[run.workflow.as_bytes(), run.name.as_bytes(), key.as_bytes()]))
                .map_err(failed)?;
        }
        if let Some(at) = run.due_at {
            self.due.remove(due_key(at, &run.id)).map_err(failed)?;
        }
        self.leases.remove(run.id.as_bytes()).map_err(failed)?;
        self.runs.remove(run.id.as_bytes()).map_err(failed)?;
        Ok(())
    }

    /// Whether an event of `name` after `after` waits for the run.
    fn has_event(&self, id: &str, name: &str, after: u64) -> StorageResult<bool> {
        Ok(self.events(id, name)?.iter().any(|e| e.seq > after))
    }
}

fn decode(bytes: &[u8]) -> StorageResult<Run> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::corrupt("a run record", e))
}

impl RunStore for SledRuns {
    fn create(&self, run: &Run) -> StorageResult<Option<String>> {
        let _lock = self.lock();
        if let Some(key) = &run.idempotency_key {
            let k = joined(&[run.workflow.as_bytes(), run.name.as_bytes(), key.as_bytes()]);
            if let Some(id) = self.keys.get(&k).map_err(failed)? {
                return Ok(Some(String::from_utf8_lossy(&id).into_owned()));
            }
            self.keys.insert(k, run.id.as_bytes()).map_err(failed)?;
        }
        self.write(run)?;
        self.flush()?;
        Ok(None)
    }

    fn get(&self, id: &str) -> StorageResult<Option<Run>> {
        self.read(id)
    }

    fn list(&self, filter: &Filter, limit: usize) -> StorageResult<Vec<Run>> {
        let end = filter.before.as_deref().unwrap_or("\u{7f}").as_bytes().to_vec();
        let mut found = Vec::new();
        for entry in self.runs.range(..end).rev() {
            let run = decode(&entry.map_err(failed)?.1)?;
            if filter.matches(&run) {
                found.push(run);
                if found.len() == limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    fn journal(&self, id: &str) -> StorageResult<Vec<Entry>> {
        self.journal
            .scan_prefix(joined(&[id.as_bytes(), b""]))
            .map(|entry| {
                let (_, bytes) = entry.map_err(failed)?;
                serde_json::from_slice(&bytes).map_err(|e| StorageError::corrupt("a journal entry", e))
            })
            .collect()
    }

    fn events(&self, id: &str, name: &str) -> StorageResult<Vec<Event>> {
        let mut found = Vec::new();
        let start = joined(&[id.as_bytes(), b""]);
        for entry in self.events.scan_prefix(&start) {
            let (k, v) = entry.map_err(failed)?;
            let seq = k.get(start.len()..).and_then(|s| s.try_into().ok()).map(u64::from_be_bytes);
            let at = v.iter().position(|&b| b == SEP);
            let (Some(seq), Some(at)) = (seq, at) else { return Err(failed("an event record without its parts")) };
            if &v[..at] == name.as_bytes() {
                let payload = String::from_utf8_lossy(&v[at + 1..]).into_owned();
                found.push(Event { seq, name: name.to_owned(), payload });
            }
        }
        Ok(found)
    }

    fn add_event(&self, id: &str, name: &str, payload: &str, now: u64) -> StorageResult<Delivered> {
        let _lock = self.lock();
        let Some(mut run) = self.read(id)? else { return Ok(Delivered::NoRun) };
        if run.status.is_final() {
            return Ok(Delivered::Ended(run.status));
        }
        let seq = self.db.generate_id().map_err(failed)? + 1;
        let k = joined(&[id.as_bytes(), &seq.to_be_bytes()]);
        self.events.insert(k, joined(&[name.as_bytes(), payload.as_bytes()])).map_err(failed)?;
        if run.status == Status::Waiting
            && run.pending.as_ref().is_some_and(|p| p.kind == Kind::Event && p.name == name)
        {
            run.due_at = Some(now);
            self.write(&run)?;
        }
        self.flush()?;
        Ok(Delivered::Kept)
    }

    fn claim(&self, now: u64, lease: &str, _lease_until: u64, limit: usize) -> StorageResult<Vec<Run>> {
        let _lock = self.lock();
        let mut claimed = Vec::new();
        let due: Vec<sled::IVec> = self
            .due
            .range(..due_key(now.saturating_add(1), ""))
            .keys()
            .take(limit)
            .collect::<Result<_, _>>()
            .map_err(failed)?;
        for k in due {
            let id = String::from_utf8_lossy(&k[8..]).into_owned();
            let Some(mut run) = self.read(&id)? else {
                self.due.remove(&k).map_err(failed)?;
                continue;
            };
            run.status = Status::Running;
            run.due_at = None;
            self.write(&run)?;
            self.leases.insert(id.as_bytes(), lease.as_bytes()).map_err(failed)?;
            claimed.push(run);
        }
        if !claimed.is_empty() {
            self.flush()?;
        }
        Ok(claimed)
    }

    fn next_due(&self) -> StorageResult<Option<u64>> {
        let first = self.due.first().map_err(failed)?;
        Ok(first.and_then(|(k, _)| k.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)))
    }

    fn release(&self, run: &Run, lease: &str) -> StorageResult<bool> {
        let _lock = self.lock();
        if self.leases.get(run.id.as_bytes()).map_err(failed)?.is_none_or(|l| l != lease.as_bytes()) {
            return Ok(false);
        }
        let mut run = run.clone();
        if run.status == Status::Waiting
            && let Some(p) = &run.pending
            && self.has_event(&run.id, &p.name, p.after_seq)?
        {
            run.due_at = Some(now_ms());
        }
        self.write(&run)?;
        self.leases.remove(run.id.as_bytes()).map_err(failed)?;
        self.flush()?;
        Ok(true)
    }

    fn update(&self, id: &str, change: &mut dyn FnMut(&mut Run) -> Option<u32>) -> StorageResult<Option<Run>> {
        let _lock = self.lock();
        let Some(mut run) = self.read(id)? else { return Ok(None) };
        if let Some(truncate) = change(&mut run) {
            self.truncate_journal(id, truncate)?;
            self.write(&run)?;
            self.leases.remove(id.as_bytes()).map_err(failed)?;
            self.flush()?;
        }
        Ok(Some(run))
    }

    fn prune(&self, before: u64) -> StorageResult<usize> {
        let _lock = self.lock();
        let mut removed = 0;
        for entry in self.runs.iter() {
            let run = decode(&entry.map_err(failed)?.1)?;
            if run.ended_at.is_some_and(|at| at < before) {
                self.remove_run(&run)?;
                removed += 1;
            }
        }
        if removed > 0 {
            self.flush()?;
        }
        Ok(removed)
    }
}
