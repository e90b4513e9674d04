//! Secrets in the embedded store: tree `secrets` (workflow NUL name →
//! updated-at as 8 big-endian bytes, then the sealed value) and the key
//! check in tree `secrets-meta`. Every change is flushed before it returns.

use super::{SecretStore, StoredSecret};
use crate::storage::{StorageError, StorageResult};

const CHECK_KEY: &[u8] = b"key-check";

pub struct SledSecrets {
    db: sled::Db,
    secrets: sled::Tree,
    meta: sled::Tree,
}

impl SledSecrets {
    pub fn new(db: &sled::Db) -> StorageResult<Self> {
        Ok(Self { db: db.clone(), secrets: db.open_tree("secrets")?, meta: db.open_tree("secrets-meta")? })
    }

    fn flushed<T>(&self, value: T) -> StorageResult<T> {
        self.db.flush()?;
        Ok(value)
    }
}

fn key(workflow: &str, name: &str) -> Vec<u8> {
    [workflow.as_bytes(), &[0], name.as_bytes()].concat()
}

impl SecretStore for SledSecrets {
    fn put(&self, workflow: &str, name: &str, sealed: &[u8], updated_at: u64) -> StorageResult<()> {
        self.secrets.insert(key(workflow, name), [&updated_at.to_be_bytes()[..], sealed].concat())?;
        self.flushed(())
    }

    fn all(&self, workflow: &str) -> StorageResult<Vec<StoredSecret>> {
        self.secrets
            .scan_prefix(key(workflow, ""))
            .map(|entry| {
                let (k, v) = entry?;
                let corrupt = || StorageError::failed("corrupt secret record");
                let name = String::from_utf8(k[workflow.len() + 1..].to_vec()).map_err(|_| corrupt())?;
                let (at, sealed) = v.split_first_chunk::<8>().ok_or_else(corrupt)?;
                Ok(StoredSecret { name, sealed: sealed.to_vec(), updated_at: u64::from_be_bytes(*at) })
            })
            .collect()
    }

    fn remove(&self, workflow: &str, name: &str) -> StorageResult<bool> {
        let removed = self.secrets.remove(key(workflow, name))?.is_some();
        self.flushed(removed)
    }

    fn key_check(&self) -> StorageResult<Option<Vec<u8>>> {
        Ok(self.meta.get(CHECK_KEY)?.map(|v| v.to_vec()))
    }

    fn set_key_check(&self, sealed: &[u8]) -> StorageResult<()> {
        self.meta.insert(CHECK_KEY, sealed)?;
        self.flushed(())
    }
}
