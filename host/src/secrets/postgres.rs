//! Secrets in the shared database (`floww_secrets`, the key check in
//! `floww_meta`), so every host on it serves the same ones.

use std::sync::Arc;

use super::{SecretStore, StoredSecret};
use crate::storage::StorageResult;
use crate::storage::postgres::{Database, ms, storage_error};

const CHECK_KEY: &str = "secret-key-check";

pub struct PostgresSecrets {
    db: Arc<Database>,
}

impl PostgresSecrets {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

impl SecretStore for PostgresSecrets {
    fn put(&self, workflow: &str, name: &str, sealed: &[u8], updated_at: u64) -> StorageResult<()> {
        self.db
            .get()?
            .execute(
                "INSERT INTO floww_secrets (workflow, name, sealed, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (workflow, name) DO UPDATE SET sealed = $3, updated_at = $4",
                &[&workflow, &name, &sealed, &ms(updated_at)],
            )
            .map_err(storage_error)?;
        Ok(())
    }

    fn all(&self, workflow: &str) -> StorageResult<Vec<StoredSecret>> {
        let rows = self
            .db
            .get()?
            .query("SELECT name, sealed, updated_at FROM floww_secrets WHERE workflow = $1 ORDER BY name", &[&workflow])
            .map_err(storage_error)?;
        Ok(rows
            .iter()
            .map(|row| StoredSecret { name: row.get(0), sealed: row.get(1), updated_at: row.get::<_, i64>(2) as u64 })
            .collect())
    }

    fn remove(&self, workflow: &str, name: &str) -> StorageResult<bool> {
        let removed = self
            .db
            .get()?
            .execute("DELETE FROM floww_secrets WHERE workflow = $1 AND name = $2", &[&workflow, &name])
            .map_err(storage_error)?;
        Ok(removed > 0)
    }

    fn key_check(&self) -> StorageResult<Option<Vec<u8>>> {
        let row = self
            .db
            .get()?
            .query_opt("SELECT value FROM floww_meta WHERE key = $1", &[&CHECK_KEY])
            .map_err(storage_error)?;
        Ok(row.map(|row| row.get(0)))
    }

    /// The first host to start sets it; the others then check theirs against it.
    fn set_key_check(&self, sealed: &[u8]) -> StorageResult<()> {
        self.db
            .get()?
            .execute(
                "INSERT INTO floww_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&CHECK_KEY, &sealed],
            )
            .map_err(storage_error)?;
        Ok(())
    }
}
