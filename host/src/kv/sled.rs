//! The embedded backend: one sled database in the data dir.
//!
//! Trees: `tables` (table → owner), `grants` (table NUL workflow → rights),
//! `grantees` (workflow NUL table, an index for listing a workflow's tables) and
//! `items` (table NUL key → created-at, updated-at, JSON). Names never hold NUL,
//! so a prefix scan on `table NUL` lists exactly one table, in name order.

use std::path::Path;

use sled::transaction::{TransactionError, Transactional};

use super::backend::{Access, Backend, Item, StorageError, StorageResult};

const SEP: u8 = 0;

pub struct SledBackend {
    db: sled::Db,
    tables: sled::Tree,
    grants: sled::Tree,
    grantees: sled::Tree,
    items: sled::Tree,
}

impl SledBackend {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> StorageResult<Self> {
        Self::with_db(sled::Config::new().path(dir).open()?)
    }

    /// A database that lives only as long as the value: for tests.
    #[cfg(test)]
    pub fn temporary() -> StorageResult<Self> {
        Self::with_db(sled::Config::new().temporary(true).open()?)
    }

    fn with_db(db: sled::Db) -> StorageResult<Self> {
        Ok(Self {
            tables: db.open_tree("tables")?,
            grants: db.open_tree("grants")?,
            grantees: db.open_tree("grantees")?,
            items: db.open_tree("items")?,
            db,
        })
    }

    /// Makes every change so far durable before the caller acknowledges it.
    fn sync(&self) -> StorageResult<()> {
        self.db.flush()?;
        Ok(())
    }
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError(Box::new(e))
    }
}

impl From<TransactionError<()>> for StorageError {
    fn from(e: TransactionError<()>) -> Self {
        match e {
            TransactionError::Storage(e) => e.into(),
            TransactionError::Abort(()) => corrupt("transaction aborted"),
        }
    }
}

fn corrupt(what: &str) -> StorageError {
    StorageError(format!("corrupt KV data: {what}").into())
}

fn pair(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + 1 + b.len());
    k.extend_from_slice(a.as_bytes());
    k.push(SEP);
    k.extend_from_slice(b.as_bytes());
    k
}

fn prefix(a: &str) -> Vec<u8> {
    pair(a, "")
}

/// The second half of a `a NUL b` key.
fn second(key: &[u8]) -> StorageResult<String> {
    let at = key.iter().position(|&b| b == SEP).ok_or_else(|| corrupt("key without separator"))?;
    text(&key[at + 1..])
}

fn text(bytes: &[u8]) -> StorageResult<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("name is not UTF-8"))
}

fn encode_access(a: Access) -> [u8; 2] {
    [a.read as u8, a.write as u8]
}

fn decode_access(bytes: &[u8]) -> StorageResult<Access> {
    match bytes {
        [r, w] => Ok(Access { read: *r == 1, write: *w == 1 }),
        _ => Err(corrupt("grant record")),
    }
}

/// Item records: created-at and updated-at as big-endian u64, then the JSON.
fn encode_item(created_at: u64, updated_at: u64, value: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + value.len());
    v.extend_from_slice(&created_at.to_be_bytes());
    v.extend_from_slice(&updated_at.to_be_bytes());
    v.extend_from_slice(value.as_bytes());
    v
}

fn decode_item(key: String, bytes: &[u8]) -> StorageResult<Item> {
    if bytes.len() < 16 {
        return Err(corrupt("item record"));
    }
    let (created, rest) = bytes.split_at(8);
    let (updated, value) = rest.split_at(8);
    Ok(Item {
        key,
        value: text(value)?,
        created_at: u64::from_be_bytes(created.try_into().expect("8 bytes")),
        updated_at: u64::from_be_bytes(updated.try_into().expect("8 bytes")),
    })
}

impl Backend for SledBackend {
    fn table_owner(&self, table: &str) -> StorageResult<Option<String>> {
        self.tables.get(table)?.map(|o| text(&o)).transpose()
    }

    fn create_table(&self, table: &str, owner: &str) -> StorageResult<String> {
        match self.tables.compare_and_swap(table, None::<&[u8]>, Some(owner.as_bytes()))? {
            Ok(()) => {
                self.sync()?;
                Ok(owner.to_owned())
            }
            Err(existing) => text(&existing.current.ok_or_else(|| corrupt("table record"))?),
        }
    }

    fn tables(&self) -> StorageResult<Vec<(String, String)>> {
        self.tables
            .iter()
            .map(|entry| {
                let (name, owner) = entry?;
                Ok((text(&name)?, text(&owner)?))
            })
            .collect()
    }

    fn grant(&self, table: &str, workflow: &str) -> StorageResult<Option<Access>> {
        self.grants.get(pair(table, workflow))?.map(|a| decode_access(&a)).transpose()
    }

    fn grants(&self, table: &str) -> StorageResult<Vec<(String, Access)>> {
        self.grants
            .scan_prefix(prefix(table))
            .map(|entry| {
                let (key, access) = entry?;
                Ok((second(&key)?, decode_access(&access)?))
            })
            .collect()
    }

    fn granted_tables(&self, workflow: &str) -> StorageResult<Vec<String>> {
        self.grantees.scan_prefix(prefix(workflow)).map(|entry| second(&entry?.0)).collect()
    }

    fn put_grant(&self, table: &str, workflow: &str, access: Access) -> StorageResult<()> {
        (&self.grants, &self.grantees).transaction(|(grants, grantees)| {
            grants.insert(pair(table, workflow), &encode_access(access))?;
            grantees.insert(pair(workflow, table), &[])?;
            Ok(())
        })?;
        self.sync()
    }

    fn remove_grant(&self, table: &str, workflow: &str) -> StorageResult<bool> {
        let removed = (&self.grants, &self.grantees).transaction(|(grants, grantees)| {
            grantees.remove(pair(workflow, table))?;
            Ok(grants.remove(pair(table, workflow))?.is_some())
        })?;
        self.sync()?;
        Ok(removed)
    }

    fn get(&self, table: &str, key: &str) -> StorageResult<Option<Item>> {
        self.items.get(pair(table, key))?.map(|bytes| decode_item(key.to_owned(), &bytes)).transpose()
    }

    fn put(&self, table: &str, key: &str, value: &str, now_ms: u64) -> StorageResult<()> {
        self.items.update_and_fetch(pair(table, key), |old| {
            let created = match old {
                Some(old) if old.len() >= 8 => u64::from_be_bytes(old[..8].try_into().expect("8 bytes")),
                _ => now_ms,
            };
            Some(encode_item(created, now_ms, value))
        })?;
        self.sync()
    }

    fn remove(&self, table: &str, key: &str) -> StorageResult<bool> {
        let removed = self.items.remove(pair(table, key))?.is_some();
        if removed {
            self.sync()?;
        }
        Ok(removed)
    }

    fn keys(&self, table: &str) -> StorageResult<Vec<String>> {
        self.items.scan_prefix(prefix(table)).map(|entry| second(&entry?.0)).collect()
    }

    fn items(&self, table: &str) -> StorageResult<Vec<Item>> {
        self.items
            .scan_prefix(prefix(table))
            .map(|entry| {
                let (key, bytes) = entry?;
                decode_item(second(&key)?, &bytes)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_keeps_created_at_and_moves_updated_at() {
        let db = SledBackend::temporary().unwrap();
        db.put("t", "k", "1", 100).unwrap();
        db.put("t", "k", "2", 200).unwrap();
        let item = db.get("t", "k").unwrap().unwrap();
        assert_eq!((item.value.as_str(), item.created_at, item.updated_at), ("2", 100, 200));
    }

    #[test]
    fn prefix_scans_do_not_leak_into_tables_sharing_a_prefix() {
        let db = SledBackend::temporary().unwrap();
        db.put("users", "b", "1", 1).unwrap();
        db.put("users", "a", "1", 1).unwrap();
        db.put("users2", "c", "1", 1).unwrap();
        assert_eq!(db.keys("users").unwrap(), ["a", "b"]);
        assert_eq!(db.items("users2").unwrap().len(), 1);
    }

    #[test]
    fn create_table_keeps_the_first_owner() {
        let db = SledBackend::temporary().unwrap();
        assert_eq!(db.create_table("t", "alice").unwrap(), "alice");
        assert_eq!(db.create_table("t", "bob").unwrap(), "alice");
        assert_eq!(db.tables().unwrap(), [("t".to_owned(), "alice".to_owned())]);
    }

    #[test]
    fn grants_are_indexed_both_ways_and_removed_together() {
        let db = SledBackend::temporary().unwrap();
        let read = Access { read: true, write: false };
        db.put_grant("t1", "bob", read).unwrap();
        db.put_grant("t2", "bob", read).unwrap();
        assert_eq!(db.granted_tables("bob").unwrap(), ["t1", "t2"]);
        assert!(db.remove_grant("t1", "bob").unwrap());
        assert!(!db.remove_grant("t1", "bob").unwrap());
        assert_eq!(db.granted_tables("bob").unwrap(), ["t2"]);
        assert_eq!(db.grants("t2").unwrap(), [("bob".to_owned(), read)]);
    }
}
