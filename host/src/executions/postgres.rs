//! Execution records in PostgreSQL, one row per record keyed by its id (a
//! UUIDv7, so id order is start order): every host on the database lists
//! the executions of all of them.
//!
//! Records are written by a thread of their own, in batches: an execution
//! ends (often on an async task) without waiting for a database round trip.
//! A read on the same host first waits for the records queued before it, so
//! it sees every execution that ended before it was made; other hosts see
//! them a few milliseconds later.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{Record, RecordStore};
use crate::storage::postgres::{Database, storage_error};
use crate::storage::{StorageError, StorageResult};

/// Records fetched per round trip while scanning.
const PAGE: i64 = 256;
/// Records waiting to be written; beyond this they are dropped (and logged).
const QUEUE: usize = 10_000;
/// Most records written in one transaction.
const BATCH: usize = 256;
/// Longest a read waits for the records queued before it (the database may
/// be down: then it reads what is there).
const SETTLE_WAIT: Duration = Duration::from_secs(5);

pub struct PostgresRecords {
    db: Arc<Database>,
    pending: SyncSender<Record>,
    progress: Arc<Progress>,
}

/// Records queued and records dealt with (written, or given up on), counted
/// under one lock.
#[derive(Default)]
struct Progress {
    counts: Mutex<(u64, u64)>,
    done: Condvar,
}

impl PostgresRecords {
    /// Starts the writer thread, which ends when the store is dropped.
    pub fn new(db: Arc<Database>) -> Self {
        let (pending, queue) = sync_channel(QUEUE);
        let progress = Arc::new(Progress::default());
        let (writer, written) = (db.clone(), progress.clone());
        std::thread::Builder::new()
            .name("floww-records".into())
            .spawn(move || write_records(&writer, &queue, &written))
            .expect("spawn the execution record writer");
        Self { db, pending, progress }
    }

    /// Waits until every record queued so far has been dealt with.
    fn settle(&self) {
        let counts = self.progress.counts.lock().unwrap_or_else(|e| e.into_inner());
        let queued = counts.0;
        let waited = self.progress.done.wait_timeout_while(counts, SETTLE_WAIT, |(_, dealt)| *dealt < queued);
        drop(waited);
    }
}

fn write_records(db: &Database, queue: &Receiver<Record>, progress: &Progress) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(BATCH - 1));
        if let Err(e) = insert(db, &batch) {
            tracing::error!("could not keep {} execution records: {e}", batch.len());
        }
        progress.counts.lock().unwrap_or_else(|e| e.into_inner()).1 += batch.len() as u64;
        progress.done.notify_all();
    }
}

fn insert(db: &Database, records: &[Record]) -> StorageResult<()> {
    let mut conn = db.get()?;
    let mut tx = conn.transaction().map_err(storage_error)?;
    let statement = tx
        .prepare("INSERT INTO floww_executions (id, record) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET record = $2")
        .map_err(storage_error)?;
    for record in records {
        let json = serde_json::to_string(record).map_err(StorageError::failed)?;
        tx.execute(&statement, &[&record.id, &json]).map_err(storage_error)?;
    }
    tx.commit().map_err(storage_error)
}

fn decode(text: &str) -> StorageResult<Record> {
    serde_json::from_str(text).map_err(StorageError::failed)
}

impl RecordStore for PostgresRecords {
    /// Queues the record for the writer thread.
    fn put(&self, record: &Record) -> StorageResult<()> {
        // Counted first, so a read can't miss a record the writer has taken.
        let mut counts = self.progress.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.0 += 1;
        let sent = self.pending.try_send(record.clone());
        if sent.is_err() {
            counts.0 -= 1;
        }
        drop(counts);
        sent.map_err(|e| match e {
            TrySendError::Full(_) => {
                StorageError::Unavailable(format!("{QUEUE} execution records are waiting already"))
            }
            TrySendError::Disconnected(_) => StorageError::failed("the execution record writer has stopped"),
        })
    }

    fn get(&self, id: &str) -> StorageResult<Option<Record>> {
        self.settle();
        let row = self.db.get()?.query_opt("SELECT record FROM floww_executions WHERE id = $1", &[&id]);
        row.map_err(storage_error)?.map(|row| decode(row.get(0))).transpose()
    }

    fn scan<'a>(
        &'a self,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Box<dyn Iterator<Item = StorageResult<Record>> + 'a> {
        self.settle();
        Box::new(Scan {
            db: &self.db,
            cursor: cursor.map(str::to_owned),
            newest_first,
            page: VecDeque::new(),
            done: false,
        })
    }

    fn remove(&self, ids: &[String]) -> StorageResult<()> {
        let delete = "DELETE FROM floww_executions WHERE id = ANY($1)";
        self.db.get()?.execute(delete, &[&ids]).map_err(storage_error)?;
        Ok(())
    }

    /// Waits for the writer thread to write what is queued.
    fn flush(&self) -> StorageResult<()> {
        self.settle();
        Ok(())
    }
}

/// Records in id order (or reversed) past a cursor, a page at a time.
struct Scan<'a> {
    db: &'a Database,
    cursor: Option<String>,
    newest_first: bool,
    page: VecDeque<(String, String)>,
    done: bool,
}

impl Scan<'_> {
    fn fetch(&mut self) -> StorageResult<()> {
        let sql = if self.newest_first {
            "SELECT id, record FROM floww_executions WHERE $1::text IS NULL OR id < $1 ORDER BY id DESC LIMIT $2"
        } else {
            "SELECT id, record FROM floww_executions WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2"
        };
        let rows = self.db.get()?.query(sql, &[&self.cursor, &PAGE]).map_err(storage_error)?;
        self.done = (rows.len() as i64) < PAGE;
        self.page = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        Ok(())
    }
}

impl Iterator for Scan<'_> {
    type Item = StorageResult<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty()
            && !self.done
            && let Err(e) = self.fetch()
        {
            self.done = true;
            return Some(Err(e));
        }
        let (id, text) = self.page.pop_front()?;
        self.cursor = Some(id);
        Some(decode(&text))
    }
}
