//! The KV store as workflows see it: name and value checks and the permission
//! rules of DESIGN.md, over a storage [`Backend`]. It owns no storage format
//! (that is the backend's) and no WIT types (those are in `host`).
//!
//! Every operation takes the caller's workflow id from the host, never from
//! the guest. The checks run in one order: names (400), value (413/400),
//! table exists (404), right on it (403), key exists (404).

mod backend;
mod host;
#[cfg(test)]
mod proptests;
mod sled;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use self::backend::{Access, Backend, Item, StorageError};
pub use self::host::KvCtx;
pub use self::sled::SledBackend;

/// The largest value, in bytes of JSON text.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// The longest table name or key, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Answers whether a workflow id is deployed, so grants to unknown ids fail.
pub trait WorkflowDirectory: Send + Sync {
    fn is_deployed(&self, id: &str) -> bool;
}

/// Why a KV operation failed; the message is for the workflow author.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    ValueTooLarge(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Internal(#[from] StorageError),
}

pub type KvResult<T> = Result<T, KvError>;

/// A table and the workflow that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub name: String,
    pub owner: String,
}

/// One entry of a table's permission list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub workflow_id: String,
    pub access: Access,
    pub is_owner: bool,
}

/// The store with its rules. Cheap to share: hold it in an `Arc`.
pub struct Kv {
    backend: Arc<dyn Backend>,
    workflows: Arc<dyn WorkflowDirectory>,
}

/// Which right an operation needs.
#[derive(Clone, Copy)]
enum Need {
    Read,
    Write,
}

impl Kv {
    pub fn new(backend: Arc<dyn Backend>, workflows: Arc<dyn WorkflowDirectory>) -> Self {
        Self { backend, workflows }
    }

    pub fn get(&self, caller: &str, table: &str, key: &str) -> KvResult<Item> {
        check_table_name(table)?;
        check_key(key)?;
        self.authorize(caller, table, Need::Read)?;
        self.backend.get(table, key)?.ok_or_else(|| missing_key(table, key))
    }

    pub fn set(&self, caller: &str, table: &str, key: &str, value: &str) -> KvResult<()> {
        check_table_name(table)?;
        check_key(key)?;
        check_value(value)?;
        match self.backend.table_owner(table)? {
            // The first successful set creates the table, owned by its caller.
            None => {
                let owner = self.backend.create_table(table, caller)?;
                if owner != caller {
                    // Another workflow created it first; its rules apply.
                    self.authorize(caller, table, Need::Write)?;
                }
            }
            Some(_) => {
                self.authorize(caller, table, Need::Write)?;
            }
        }
        self.backend.put(table, key, value, now_ms())?;
        Ok(())
    }

    pub fn delete(&self, caller: &str, table: &str, key: &str) -> KvResult<()> {
        check_table_name(table)?;
        check_key(key)?;
        self.authorize(caller, table, Need::Write)?;
        if self.backend.remove(table, key)? { Ok(()) } else { Err(missing_key(table, key)) }
    }

    /// The tables `caller` owns or holds a grant on, sorted by name.
    pub fn list_tables(&self, caller: &str) -> KvResult<Vec<TableInfo>> {
        let granted: HashSet<String> = self.backend.granted_tables(caller)?.into_iter().collect();
        Ok(self
            .backend
            .tables()?
            .into_iter()
            .filter(|(name, owner)| owner == caller || granted.contains(name))
            .map(|(name, owner)| TableInfo { name, owner })
            .collect())
    }

    pub fn list_keys(&self, caller: &str, table: &str) -> KvResult<Vec<String>> {
        check_table_name(table)?;
        self.authorize(caller, table, Need::Read)?;
        Ok(self.backend.keys(table)?)
    }

    pub fn list_items(&self, caller: &str, table: &str) -> KvResult<Vec<Item>> {
        check_table_name(table)?;
        self.authorize(caller, table, Need::Read)?;
        Ok(self.backend.items(table)?)
    }

    /// The owner first, then every grant by workflow id.
    pub fn list_permissions(&self, caller: &str, table: &str) -> KvResult<Vec<Permission>> {
        check_table_name(table)?;
        let owner = self.authorize(caller, table, Need::Read)?;
        let mut list =
            vec![Permission { workflow_id: owner, access: Access { read: true, write: true }, is_owner: true }];
        list.extend(self.backend.grants(table)?.into_iter().map(|(workflow_id, access)| Permission {
            workflow_id,
            access,
            is_owner: false,
        }));
        Ok(list)
    }

    /// Creates or replaces `workflow`'s rights on a table `caller` owns.
    pub fn grant(&self, caller: &str, table: &str, workflow: &str, access: Access) -> KvResult<()> {
        check_table_name(table)?;
        check_workflow_id(workflow)?;
        if !access.read && !access.write {
            return Err(KvError::InvalidInput(
                "a grant needs read or write access; to take access away, revoke it".into(),
            ));
        }
        self.authorize_owner(caller, table, workflow)?;
        if !self.workflows.is_deployed(workflow) {
            return Err(KvError::NotFound(format!("no workflow {workflow:?} is deployed")));
        }
        Ok(self.backend.put_grant(table, workflow, access)?)
    }

    /// Removes `workflow`'s grant on a table `caller` owns.
    pub fn revoke(&self, caller: &str, table: &str, workflow: &str) -> KvResult<()> {
        check_table_name(table)?;
        check_workflow_id(workflow)?;
        self.authorize_owner(caller, table, workflow)?;
        if self.backend.remove_grant(table, workflow)? {
            Ok(())
        } else {
            Err(KvError::NotFound(format!("workflow {workflow:?} has no grant on table {table:?}")))
        }
    }

    /// Checks `caller` may use `table` as `need` says; returns the owner.
    fn authorize(&self, caller: &str, table: &str, need: Need) -> KvResult<String> {
        let owner = self.owner(table)?;
        if owner == caller {
            return Ok(owner);
        }
        let access = self.backend.grant(table, caller)?;
        let (allowed, verb) = match need {
            Need::Read => (access.is_some_and(|a| a.read), "read"),
            Need::Write => (access.is_some_and(|a| a.write), "write"),
        };
        if allowed {
            Ok(owner)
        } else {
            Err(KvError::PermissionDenied(format!(
                "workflow {caller:?} may not {verb} table {table:?}: it has no {verb} grant from the table's owner"
            )))
        }
    }

    /// Checks `caller` owns `table` and that `workflow` is not the owner.
    fn authorize_owner(&self, caller: &str, table: &str, workflow: &str) -> KvResult<()> {
        let owner = self.owner(table)?;
        if owner != caller {
            return Err(KvError::PermissionDenied(format!(
                "only the owner of table {table:?} may change its permissions"
            )));
        }
        if workflow == owner {
            return Err(KvError::Conflict(format!(
                "workflow {owner:?} owns table {table:?}; an owner always reads and writes its table"
            )));
        }
        Ok(())
    }

    fn owner(&self, table: &str) -> KvResult<String> {
        self.backend.table_owner(table)?.ok_or_else(|| KvError::NotFound(format!("table {table:?} does not exist")))
    }
}

fn missing_key(table: &str, key: &str) -> KvError {
    KvError::NotFound(format!("key {key:?} not found in table {table:?}"))
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Tables: `^[A-Za-z0-9_-]{1,255}$`.
pub fn check_table_name(table: &str) -> KvResult<()> {
    check_name("table name", table, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-', "A-Z a-z 0-9 _ -")
}

/// Keys: the table charset plus `.`, `:` and `@`, so ids such as e-mail
/// addresses and `user:42` need no encoding.
pub fn check_key(key: &str) -> KvResult<()> {
    check_name(
        "key",
        key,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@'),
        "A-Z a-z 0-9 _ - . : @",
    )
}

fn check_name(what: &str, name: &str, allowed: impl Fn(char) -> bool, charset: &str) -> KvResult<()> {
    let rule = || format!("use 1 to {MAX_NAME_CHARS} characters from {charset}");
    if name.is_empty() {
        return Err(KvError::InvalidInput(format!("{what} is empty: {}", rule())));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(KvError::InvalidInput(format!("{what} is {} characters long: {}", name.chars().count(), rule())));
    }
    if let Some(bad) = name.chars().find(|&c| !allowed(c)) {
        return Err(KvError::InvalidInput(format!("{what} {name:?} contains {bad:?}: {}", rule())));
    }
    Ok(())
}

/// Workflow ids: `^[a-z0-9][a-z0-9-]{0,62}$`.
pub fn check_workflow_id(id: &str) -> KvResult<()> {
    let mut chars = id.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && id.len() <= 63;
    if valid {
        Ok(())
    } else {
        Err(KvError::InvalidInput(format!(
            "invalid workflow id {id:?}: use 1 to 63 characters from a-z 0-9 -, starting with a letter or digit"
        )))
    }
}

/// Values: JSON text of at most [`MAX_VALUE_BYTES`].
fn check_value(value: &str) -> KvResult<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::ValueTooLarge(format!(
            "value is {} bytes; the limit is {MAX_VALUE_BYTES} bytes (1 MiB)",
            value.len()
        )));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(value)
        .map(|_| ())
        .map_err(|e| KvError::InvalidInput(format!("value is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Deployed(HashSet<&'static str>);

    impl WorkflowDirectory for Deployed {
        fn is_deployed(&self, id: &str) -> bool {
            self.0.contains(id)
        }
    }

    fn kv() -> Kv {
        Kv::new(Arc::new(SledBackend::temporary().unwrap()), Arc::new(Deployed(["alice", "bob", "carol"].into())))
    }

    const READ: Access = Access { read: true, write: false };
    const WRITE: Access = Access { read: false, write: true };

    #[test]
    fn first_set_creates_the_table_owned_by_the_caller() {
        let kv = kv();
        kv.set("alice", "t", "k", "1").unwrap();
        let perms = kv.list_permissions("alice", "t").unwrap();
        assert_eq!(perms.len(), 1);
        assert!(perms[0].is_owner && perms[0].workflow_id == "alice");
        assert!(matches!(kv.set("bob", "t", "k", "2"), Err(KvError::PermissionDenied(_))));
    }

    #[test]
    fn grants_give_exactly_the_rights_they_name() {
        let kv = kv();
        kv.set("alice", "t", "k", "1").unwrap();
        kv.grant("alice", "t", "bob", READ).unwrap();
        kv.grant("alice", "t", "carol", WRITE).unwrap();
        assert_eq!(kv.get("bob", "t", "k").unwrap().value, "1");
        assert!(matches!(kv.set("bob", "t", "k", "2"), Err(KvError::PermissionDenied(_))));
        kv.set("carol", "t", "k", "3").unwrap();
        assert!(matches!(kv.get("carol", "t", "k"), Err(KvError::PermissionDenied(_))));
        assert_eq!(kv.list_tables("bob").unwrap(), [TableInfo { name: "t".into(), owner: "alice".into() }]);
    }

    #[test]
    fn only_the_owner_grants_and_the_owner_cannot_be_changed() {
        let kv = kv();
        kv.set("alice", "t", "k", "1").unwrap();
        kv.grant("alice", "t", "bob", Access { read: true, write: true }).unwrap();
        assert!(matches!(kv.grant("bob", "t", "carol", READ), Err(KvError::PermissionDenied(_))));
        assert!(matches!(kv.grant("alice", "t", "alice", READ), Err(KvError::Conflict(_))));
        assert!(matches!(kv.revoke("alice", "t", "alice"), Err(KvError::Conflict(_))));
        assert!(matches!(kv.grant("alice", "t", "dave", READ), Err(KvError::NotFound(_))));
    }

    #[test]
    fn revoke_takes_access_away() {
        let kv = kv();
        kv.set("alice", "t", "k", "1").unwrap();
        kv.grant("alice", "t", "bob", READ).unwrap();
        kv.revoke("alice", "t", "bob").unwrap();
        assert!(matches!(kv.get("bob", "t", "k"), Err(KvError::PermissionDenied(_))));
        assert!(matches!(kv.revoke("alice", "t", "bob"), Err(KvError::NotFound(_))));
        assert!(kv.list_tables("bob").unwrap().is_empty());
    }

    #[test]
    fn names_follow_their_rules() {
        assert!(check_table_name("user_data-2").is_ok());
        assert!(check_table_name(&"a".repeat(255)).is_ok());
        for bad in ["", "a b", "a/b", "../x", "a.b", "ü", "a\0b"] {
            assert!(matches!(check_table_name(bad), Err(KvError::InvalidInput(_))), "{bad:?}");
        }
        assert!(check_table_name(&"a".repeat(256)).is_err());
        assert!(check_key("john@example.com").is_ok());
        assert!(check_key("user:42").is_ok());
        assert!(check_key("a/b").is_err());
        assert!(check_workflow_id("kv-store").is_ok());
        for bad in ["", "-a", "Abc", "a_b", &"a".repeat(64)] {
            assert!(check_workflow_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_must_be_json_of_at_most_one_mib() {
        let exactly = format!("\"{}\"", "x".repeat(MAX_VALUE_BYTES - 2));
        assert!(check_value(&exactly).is_ok());
        let over = format!("\"{}\"", "x".repeat(MAX_VALUE_BYTES - 1));
        assert!(matches!(check_value(&over), Err(KvError::ValueTooLarge(_))));
        assert!(matches!(check_value("{nope"), Err(KvError::InvalidInput(_))));
    }

    #[test]
    fn missing_tables_and_keys_are_not_found_before_rights_are_checked() {
        let kv = kv();
        assert!(matches!(kv.get("bob", "nope", "k"), Err(KvError::NotFound(_))));
        kv.set("bob", "t", "k", "1").unwrap();
        assert!(matches!(kv.get("bob", "t", "other"), Err(KvError::NotFound(_))));
        assert!(matches!(kv.delete("bob", "t", "other"), Err(KvError::NotFound(_))));
    }
}
