//! The store a workflow sees while it lists its triggers at deploy: every
//! call is refused as unavailable, so a deploy that is then refused has
//! changed nothing (no table created, no item written).

use std::sync::Arc;

use super::backend::{Access, Backend, Item, Listed, Range, Write, WriteError, Written};
use super::staging::{StepCommit, StepFailure};
use super::{Kv, WorkflowDirectory};
use crate::storage::{StorageError, StorageResult};

struct Closed;

fn closed<T>() -> StorageResult<T> {
    Err(StorageError::Unavailable("the KV store is closed while a workflow lists its triggers at deploy".into()))
}

impl Backend for Closed {
    fn reads_wait(&self) -> bool {
        false
    }
    fn table_owner(&self, _: &str) -> StorageResult<Option<String>> {
        closed()
    }
    fn tables(&self) -> StorageResult<Vec<(String, String)>> {
        closed()
    }
    fn grant(&self, _: &str, _: &str) -> StorageResult<Option<Access>> {
        closed()
    }
    fn grants(&self, _: &str) -> StorageResult<Vec<(String, Access)>> {
        closed()
    }
    fn granted_tables(&self, _: &str) -> StorageResult<Vec<String>> {
        closed()
    }
    fn put_grant(&self, _: &str, _: &str, _: &str, _: Access) -> StorageResult<bool> {
        closed()
    }
    fn remove_grant(&self, _: &str, _: &str) -> StorageResult<bool> {
        closed()
    }
    fn get(&self, _: &str, _: &str, _: u64) -> StorageResult<Option<Item>> {
        closed()
    }
    fn write(&self, _: &str, _: &[&str], _: &[Write<'_>], _: u64) -> Result<Vec<Written>, WriteError> {
        Ok(closed()?)
    }
    fn keys(&self, _: &str, _: Range<'_>, _: u64) -> StorageResult<Listed<String>> {
        closed()
    }
    fn items(&self, _: &str, _: Range<'_>, _: u64) -> StorageResult<Listed<Item>> {
        closed()
    }
    fn drop_table(&self, _: &str, _: &str) -> StorageResult<bool> {
        closed()
    }
    fn remove_expired(&self, _: u64) -> StorageResult<usize> {
        closed()
    }
    fn reserve_version(&self) -> StorageResult<u64> {
        closed()
    }
    fn commit_step(&self, _: &StepCommit<'_>, _: u64) -> Result<(), StepFailure> {
        Ok(closed()?)
    }
}

/// No workflow is deployed, as far as a closed store knows.
struct NoWorkflows;

impl WorkflowDirectory for NoWorkflows {
    fn is_deployed(&self, _: &str) -> bool {
        false
    }
}

impl Kv {
    /// A store that refuses every call as unavailable.
    pub fn closed() -> Kv {
        Kv::new(Arc::new(Closed), Arc::new(NoWorkflows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KvError;

    #[test]
    fn a_closed_store_refuses_reads_writes_and_listings_as_unavailable() {
        let kv = Kv::closed();
        let unavailable = |e: KvError| matches!(e, KvError::Internal(StorageError::Unavailable(_)));
        assert!(unavailable(kv.get("w", "t", "k").unwrap_err()));
        assert!(unavailable(kv.write_one("w", Write::Delete { table: "t", key: "k" }).unwrap_err()));
        assert!(unavailable(kv.list_tables("w").unwrap_err()));
    }
}
