//! Execution records in the sled database that holds the KV data, in tree
//! `executions` keyed by execution id. Records are not flushed one by one:
//! sled's periodic flush is enough for a history.

use std::ops::Bound;

use super::{Record, RecordStore};
use crate::kv::StorageError;

pub struct SledRecords {
    tree: sled::Tree,
}

impl SledRecords {
    pub fn new(db: &sled::Db) -> Result<Self, StorageError> {
        Ok(Self { tree: db.open_tree("executions")? })
    }
}

fn decode(bytes: &[u8]) -> Result<Record, StorageError> {
    serde_json::from_slice(bytes).map_err(StorageError::failed)
}

impl RecordStore for SledRecords {
    fn put(&self, record: &Record) -> Result<(), StorageError> {
        let json = serde_json::to_vec(record).map_err(StorageError::failed)?;
        self.tree.insert(record.id.as_bytes(), json)?;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<Record>, StorageError> {
        self.tree.get(id)?.map(|bytes| decode(&bytes)).transpose()
    }

    fn scan<'a>(
        &'a self,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Box<dyn Iterator<Item = Result<Record, StorageError>> + 'a> {
        let cursor = cursor.map(|c| c.as_bytes().to_vec());
        let range = match (cursor, newest_first) {
            (None, _) => self.tree.range::<Vec<u8>, _>(..),
            (Some(c), false) => self.tree.range((Bound::Excluded(c), Bound::Unbounded)),
            (Some(c), true) => self.tree.range((Bound::Unbounded, Bound::Excluded(c))),
        };
        let decoded = move |entry: sled::Result<(sled::IVec, sled::IVec)>| decode(&entry?.1);
        if newest_first { Box::new(range.rev().map(decoded)) } else { Box::new(range.map(decoded)) }
    }

    fn remove(&self, id: &str) -> Result<(), StorageError> {
        self.tree.remove(id)?;
        Ok(())
    }
}
