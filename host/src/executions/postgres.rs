//! Execution records in PostgreSQL, one row per record keyed by its id (a
//! UUIDv7, so id order is start order): every host on the database lists
//! the executions of all of them.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Record, RecordStore};
use crate::database::{Database, storage_error};
use crate::kv::{StorageError, StorageResult};

/// Records fetched per round trip while scanning.
const PAGE: i64 = 256;

pub struct PostgresRecords {
    db: Arc<Database>,
}

impl PostgresRecords {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

fn decode(text: &str) -> StorageResult<Record> {
    serde_json::from_str(text).map_err(StorageError::failed)
}

impl RecordStore for PostgresRecords {
    fn put(&self, record: &Record) -> StorageResult<()> {
        let json = serde_json::to_string(record).map_err(StorageError::failed)?;
        self.db
            .get()?
            .execute(
                "INSERT INTO floww_executions (id, record) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET record = $2",
                &[&record.id, &json],
            )
            .map_err(storage_error)?;
        Ok(())
    }

    fn get(&self, id: &str) -> StorageResult<Option<Record>> {
        let row = self.db.get()?.query_opt("SELECT record FROM floww_executions WHERE id = $1", &[&id]);
        row.map_err(storage_error)?.map(|row| decode(row.get(0))).transpose()
    }

    fn scan<'a>(
        &'a self,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Box<dyn Iterator<Item = StorageResult<Record>> + 'a> {
        Box::new(Scan {
            db: &self.db,
            cursor: cursor.map(str::to_owned),
            newest_first,
            page: VecDeque::new(),
            done: false,
        })
    }

    fn remove(&self, id: &str) -> StorageResult<()> {
        self.db.get()?.execute("DELETE FROM floww_executions WHERE id = $1", &[&id]).map_err(storage_error)?;
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
        if self.page.is_empty() && !self.done {
            if let Err(e) = self.fetch() {
                self.done = true;
                return Some(Err(e));
            }
        }
        let (id, text) = self.page.pop_front()?;
        self.cursor = Some(id);
        Some(decode(&text))
    }
}
