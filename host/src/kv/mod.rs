//! The KV store as workflows see it: name and value checks and the permission
//! rules of DESIGN.md, over a storage [`Backend`]. It owns no storage format
//! (that is the backend's) and no WIT types (those are in `host`).
//!
//! Every operation takes the caller's workflow id from the host, never from
//! the guest. The checks run in one order: names (400), value (413/400),
//! table exists (404), right on it (403), key exists (404).

mod backend;
mod closed;
#[cfg(test)]
mod conformance;
mod host;
mod postgres;
#[cfg(test)]
mod proptests;
mod sled;
mod staging;

use std::collections::HashSet;
use std::sync::Arc;

pub use self::backend::{Access, Backend, Durable, Item, Listed, Range, Write, Written};
use self::backend::{WriteError, WriteFailure};
pub use self::host::KvCtx;
pub use self::postgres::PostgresBackend;
pub use self::sled::SledBackend;
pub use self::staging::{CommitError, Journaled, Staging};
use crate::storage::{InvalidWorkflowId, StorageError, WorkflowId, now_ms};

/// The largest value, in bytes of JSON text.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// The deepest a value's arrays and objects may nest: the most serde_json
/// reads back.
pub const MAX_VALUE_DEPTH: usize = 127;
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

impl From<InvalidWorkflowId> for KvError {
    fn from(e: InvalidWorkflowId) -> Self {
        KvError::InvalidInput(e.to_string())
    }
}

impl KvError {
    /// The WIT case name, e.g. `not-found`: for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            KvError::NotFound(_) => "not-found",
            KvError::PermissionDenied(_) => "permission-denied",
            KvError::InvalidInput(_) => "invalid-input",
            KvError::ValueTooLarge(_) => "value-too-large",
            KvError::Conflict(_) => "conflict",
            KvError::Internal(StorageError::Unavailable(_)) => "unavailable",
            KvError::Internal(_) => "internal",
        }
    }
}

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

/// Which part of a table a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// At most this many: [`DEFAULT_LIMIT`] when `None`, at most [`MAX_LIMIT`].
    pub limit: Option<u32>,
    /// The `cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Entries when a listing names no limit.
pub const DEFAULT_LIMIT: u32 = 1000;
/// The most entries one page may hold.
pub const MAX_LIMIT: u32 = 10_000;
/// The most bytes of keys and values one page of items carries (but always
/// at least one item): the rest follows with the cursor.
pub const MAX_PAGE_BYTES: usize = 4 << 20;

/// A page of a listing; `cursor` is set when more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub entries: Vec<T>,
    pub cursor: Option<String>,
}

/// A failed batch: nothing changed; `index` is the write that failed.
#[derive(Debug, thiserror::Error)]
#[error("write #{index} of the batch failed, so none was applied: {error}")]
pub struct BatchError {
    pub index: usize,
    pub error: KvError,
}

/// The most writes in one batch.
pub const MAX_BATCH: usize = 1000;
/// The longest time-to-live: ten years, in milliseconds.
pub const MAX_TTL_MS: u64 = 10 * 365 * 24 * 60 * 60 * 1000;

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

    /// Whether reads wait on I/O; see [`Backend::reads_wait`].
    pub fn reads_wait(&self) -> bool {
        self.backend.reads_wait()
    }

    /// The live item under `key`.
    pub fn get(&self, caller: &str, table: &str, key: &str) -> KvResult<Item> {
        check_table_name(table)?;
        check_key(key)?;
        self.authorize(caller, table, Need::Read)?;
        self.backend.get(table, key, now_ms())?.ok_or_else(|| missing_key(table, key))
    }

    /// Stores `value` without expiry; returns its version.
    pub fn set(&self, caller: &str, table: &str, key: &str, value: &str) -> KvResult<u64> {
        match self.write_one(caller, Write::Set { table, key, value, ttl_ms: None })? {
            Written::Set(version) => Ok(version),
            other => unreachable!("a set answered {other:?}"),
        }
    }

    pub fn delete(&self, caller: &str, table: &str, key: &str) -> KvResult<()> {
        self.write_one(caller, Write::Delete { table, key }).map(drop)
    }

    /// Applies one write; see [`Kv::write`].
    pub fn write_one(&self, caller: &str, write: Write<'_>) -> KvResult<Written> {
        self.write(caller, &[write]).map(|mut written| written.remove(0)).map_err(|e| e.error)
    }

    /// Applies `writes` in order, all or none. Each is checked as a single
    /// write would be; a write to a table that doesn't exist creates it,
    /// owned by `caller` (a delete there is not-found).
    pub fn write(&self, caller: &str, writes: &[Write<'_>]) -> Result<Vec<Written>, BatchError> {
        self.checked_write(caller, writes, |new_tables| self.backend.write(caller, new_tables, writes, now_ms()))
    }

    /// [`write`](Self::write), applied here and made durable by the
    /// [`Durable`] it returns, which the caller awaits before acknowledging
    /// the writes. For stores whose reads don't [wait](Self::reads_wait).
    pub fn write_in_place(&self, caller: &str, writes: &[Write<'_>]) -> Result<(Vec<Written>, Durable), BatchError> {
        self.checked_write(caller, writes, |new_tables| {
            self.backend.write_in_place(caller, new_tables, writes, now_ms())
        })
    }

    /// Checks `writes` against the caller's rights, then has `commit` apply
    /// them with the tables they create.
    fn checked_write<T>(
        &self,
        caller: &str,
        writes: &[Write<'_>],
        commit: impl Fn(&[&str]) -> Result<T, WriteError>,
    ) -> Result<T, BatchError> {
        if writes.len() > MAX_BATCH {
            let error =
                KvError::InvalidInput(format!("a batch holds at most {MAX_BATCH} writes, not {}", writes.len()));
            return Err(BatchError { index: MAX_BATCH, error });
        }
        // A table created by another workflow, or dropped, between the checks
        // and the write is caught by the backend; checking again then applies
        // its rules.
        for _attempt in 0..2 {
            let mut new_tables: Vec<&str> = Vec::new();
            for (index, write) in writes.iter().enumerate() {
                let at = |error| BatchError { index, error };
                check_write(write).map_err(at)?;
                let table = write.table();
                if new_tables.contains(&table) {
                    continue;
                }
                match self.backend.table_owner(table).map_err(|e| at(e.into()))? {
                    Some(_) => {
                        self.authorize(caller, table, Need::Write).map_err(at)?;
                    }
                    None if matches!(write, Write::Delete { .. }) => return Err(at(missing_table(table))),
                    None => new_tables.push(table),
                }
            }
            match commit(&new_tables) {
                Ok(written) => return Ok(written),
                Err(WriteError::Failed { failure: WriteFailure::TableTaken | WriteFailure::TableGone, .. }) => continue,
                Err(WriteError::Failed { index, failure }) => {
                    return Err(BatchError { index, error: failure_error(&writes[index], failure) });
                }
                Err(WriteError::Storage(e)) => return Err(BatchError { index: 0, error: e.into() }),
            }
        }
        Err(BatchError { index: 0, error: KvError::Conflict("tables changed owner during the write; retry".into()) })
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

    pub fn list_keys(&self, caller: &str, table: &str, options: &ListOptions) -> KvResult<Page<String>> {
        // Keys are short: a page of them is bounded by its count.
        let range = Range { max_bytes: usize::MAX, ..self.check_listing(caller, table, options)? };
        let listed = self.backend.keys(table, range, now_ms())?;
        Ok(Page { cursor: listed.more.then(|| listed.entries.last().cloned()).flatten(), entries: listed.entries })
    }

    pub fn list_items(&self, caller: &str, table: &str, options: &ListOptions) -> KvResult<Page<Item>> {
        let range = self.check_listing(caller, table, options)?;
        let listed = self.backend.items(table, range, now_ms())?;
        let cursor = listed.more.then(|| listed.entries.last().map(|item| item.key.clone())).flatten();
        Ok(Page { entries: listed.entries, cursor })
    }

    /// Removes expired items from storage; they were invisible already.
    pub fn remove_expired(&self) -> KvResult<usize> {
        Ok(self.backend.remove_expired(now_ms())?)
    }

    fn check_listing<'a>(&self, caller: &str, table: &str, options: &'a ListOptions) -> KvResult<Range<'a>> {
        check_table_name(table)?;
        let prefix = options.prefix.as_deref().unwrap_or_default();
        if !prefix.is_empty() {
            check_key(prefix).map_err(|_| {
                KvError::InvalidInput(format!("prefix {prefix:?} can't start a key: keys use A-Z a-z 0-9 _ - . : @"))
            })?;
        }
        let limit = options.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(KvError::InvalidInput(format!("limit {limit} is not between 1 and {MAX_LIMIT}")));
        }
        if let Some(cursor) = &options.cursor {
            check_key(cursor).map_err(|_| KvError::InvalidInput("cursor is not one a listing returned".into()))?;
        }
        self.authorize(caller, table, Need::Read)?;
        Ok(Range { prefix, after: options.cursor.as_deref(), limit: limit as usize, max_bytes: MAX_PAGE_BYTES })
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
        WorkflowId::parse(workflow)?;
        if !access.read && !access.write {
            return Err(KvError::InvalidInput(
                "a grant needs read or write access; to take access away, revoke it".into(),
            ));
        }
        self.authorize_owner(caller, table, workflow)?;
        if !self.workflows.is_deployed(workflow) {
            return Err(KvError::NotFound(format!("no workflow {workflow:?} is deployed")));
        }
        if self.backend.put_grant(table, caller, workflow, access)? { Ok(()) } else { Err(missing_table(table)) }
    }

    /// Removes a table `caller` owns, with every item and grant; its name is
    /// free again afterwards.
    pub fn drop_table(&self, caller: &str, table: &str) -> KvResult<()> {
        check_table_name(table)?;
        if self.owner(table)? != caller {
            return Err(KvError::PermissionDenied(format!("only the owner of table {table:?} may drop it")));
        }
        if self.backend.drop_table(table, caller)? { Ok(()) } else { Err(missing_table(table)) }
    }

    /// Removes `workflow`'s grant on a table `caller` owns.
    pub fn revoke(&self, caller: &str, table: &str, workflow: &str) -> KvResult<()> {
        check_table_name(table)?;
        WorkflowId::parse(workflow)?;
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
        self.backend.table_owner(table)?.ok_or_else(|| missing_table(table))
    }
}

fn missing_key(table: &str, key: &str) -> KvError {
    KvError::NotFound(format!("key {key:?} not found in table {table:?}"))
}

fn missing_table(table: &str) -> KvError {
    KvError::NotFound(format!("table {table:?} does not exist"))
}

/// What a write that the backend refused means to the caller.
fn failure_error(write: &Write<'_>, failure: WriteFailure) -> KvError {
    let (table, key) = (write.table(), write.key());
    match failure {
        WriteFailure::Missing => missing_key(table, key),
        WriteFailure::VersionMismatch { expected: None, actual: Some(v) } => {
            KvError::Conflict(format!("key {key:?} in table {table:?} exists (version {v}); expected it absent"))
        }
        WriteFailure::VersionMismatch { expected: Some(e), actual: None } => {
            KvError::Conflict(format!("key {key:?} in table {table:?} does not exist; expected version {e}"))
        }
        WriteFailure::VersionMismatch { expected, actual } => KvError::Conflict(format!(
            "key {key:?} in table {table:?} is at version {}, not {}",
            actual.unwrap_or_default(),
            expected.unwrap_or_default()
        )),
        WriteFailure::NotInteger => KvError::Conflict(format!(
            "the value of key {key:?} in table {table:?} is not an integer, so it can't be incremented"
        )),
        WriteFailure::Overflow => {
            KvError::Conflict(format!("incrementing key {key:?} in table {table:?} would overflow a 64-bit integer"))
        }
        WriteFailure::TableTaken => KvError::Conflict(format!("table {table:?} was created by another workflow")),
        WriteFailure::TableGone => missing_table(table),
    }
}

/// Names, values and time-to-live of one write.
fn check_write(write: &Write<'_>) -> KvResult<()> {
    check_table_name(write.table())?;
    check_key(write.key())?;
    match *write {
        Write::Set { value, ttl_ms, .. } | Write::SetIf { value, ttl_ms, .. } => {
            check_value(value)?;
            check_ttl(ttl_ms)
        }
        Write::Delete { .. } | Write::Increment { .. } => Ok(()),
    }
}

fn check_ttl(ttl_ms: Option<u64>) -> KvResult<()> {
    match ttl_ms {
        Some(ttl) if ttl == 0 || ttl > MAX_TTL_MS => Err(KvError::InvalidInput(format!(
            "time-to-live {ttl} ms is not between 1 ms and {MAX_TTL_MS} ms (ten years)"
        ))),
        _ => Ok(()),
    }
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

/// Values: JSON text of at most [`MAX_VALUE_BYTES`], nested at most
/// [`MAX_VALUE_DEPTH`] deep (deeper JSON is valid, but serde_json, so the
/// SDK's typed reads and the operator API, would refuse to read it back).
fn check_value(value: &str) -> KvResult<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::ValueTooLarge(format!(
            "value is {} bytes; the limit is {MAX_VALUE_BYTES} bytes (1 MiB)",
            value.len()
        )));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(value)
        .map_err(|e| KvError::InvalidInput(format!("value is not valid JSON: {e}")))?;
    let depth = json_depth(value);
    if depth > MAX_VALUE_DEPTH {
        return Err(KvError::InvalidInput(format!(
            "value nests {depth} levels deep; the limit is {MAX_VALUE_DEPTH} levels"
        )));
    }
    Ok(())
}

/// How deep arrays and objects nest in valid JSON text.
fn json_depth(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for byte in json.bytes() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth -= 1,
            _ => {}
        }
    }
    deepest
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
    fn only_the_owner_drops_a_table_and_grants_go_with_it() {
        let kv = kv();
        kv.set("alice", "t", "k", "1").unwrap();
        kv.grant("alice", "t", "bob", Access { read: true, write: true }).unwrap();
        let denied = kv.drop_table("bob", "t").unwrap_err();
        assert!(matches!(&denied, KvError::PermissionDenied(m) if m.contains("only the owner")), "{denied:?}");
        kv.drop_table("alice", "t").unwrap();
        assert!(matches!(kv.drop_table("alice", "t"), Err(KvError::NotFound(m)) if m.contains("does not exist")));
        assert!(matches!(kv.drop_table("alice", "bad name"), Err(KvError::InvalidInput(_))));
        // Bob's write creates a new table of that name, his own.
        kv.set("bob", "t", "k2", "2").unwrap();
        assert_eq!(kv.list_tables("bob").unwrap()[0].owner, "bob");
        assert!(matches!(kv.get("alice", "t", "k2"), Err(KvError::PermissionDenied(_))));
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
    }

    #[test]
    fn values_nested_deeper_than_serde_json_reads_are_refused() {
        assert_eq!(json_depth(r#"{"a": [1, {"b": "[[{{"}], "c": "\\\"]"}"#), 3);
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(check_value(&nested(MAX_VALUE_DEPTH)).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&nested(MAX_VALUE_DEPTH)).is_ok());
        let err = check_value(&nested(MAX_VALUE_DEPTH + 1)).unwrap_err();
        assert!(matches!(err, KvError::InvalidInput(_)));
        assert_eq!(err.to_string(), "value nests 128 levels deep; the limit is 127 levels");
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

    fn options(prefix: &str, limit: u32, cursor: Option<String>) -> ListOptions {
        ListOptions { prefix: Some(prefix.into()), limit: Some(limit), cursor }
    }

    #[test]
    fn listings_page_with_prefix_limit_and_cursor() {
        let kv = kv();
        for key in ["a1", "a2", "a3", "b1"] {
            kv.set("alice", "t", key, "1").unwrap();
        }
        let first = kv.list_keys("alice", "t", &options("a", 2, None)).unwrap();
        assert_eq!(first.entries, ["a1", "a2"]);
        let second = kv.list_keys("alice", "t", &options("a", 2, first.cursor)).unwrap();
        assert_eq!((second.entries, second.cursor), (vec!["a3".to_owned()], None));
        for bad in [options("a", 0, None), options("a", MAX_LIMIT + 1, None), options("a/", 1, None)] {
            assert!(matches!(kv.list_items("alice", "t", &bad), Err(KvError::InvalidInput(_))), "{bad:?}");
        }
    }

    #[test]
    fn increments_are_atomic_and_need_integers() {
        let kv = kv();
        let inc = |delta| kv.write_one("alice", Write::Increment { table: "c", key: "n", delta });
        assert_eq!(inc(5).unwrap(), Written::Incremented(5), "a missing key starts at 0");
        assert_eq!(inc(-2).unwrap(), Written::Incremented(3));
        kv.set("alice", "c", "s", "\"x\"").unwrap();
        let err = kv.write_one("alice", Write::Increment { table: "c", key: "s", delta: 1 }).unwrap_err();
        assert!(matches!(err, KvError::Conflict(m) if m.contains("is not an integer")));
        kv.set("alice", "c", "max", &i64::MAX.to_string()).unwrap();
        let err = kv.write_one("alice", Write::Increment { table: "c", key: "max", delta: 1 }).unwrap_err();
        assert!(matches!(err, KvError::Conflict(m) if m.contains("overflow")));
        assert!(matches!(
            kv.write_one("bob", Write::Increment { table: "c", key: "n", delta: 1 }),
            Err(KvError::PermissionDenied(_))
        ));
    }

    #[test]
    fn set_if_compares_versions() {
        let kv = kv();
        let set_if =
            |expected| kv.write_one("alice", Write::SetIf { table: "t", key: "k", value: "1", expected, ttl_ms: None });
        let Written::SetIf(v1) = set_if(None).unwrap() else { panic!() };
        assert!(matches!(set_if(None), Err(KvError::Conflict(m)) if m.contains("expected it absent")));
        let Written::SetIf(v2) = set_if(Some(v1)).unwrap() else { panic!() };
        assert!(v2 > v1);
        assert!(
            matches!(set_if(Some(v1)), Err(KvError::Conflict(m)) if m.contains(&format!("at version {v2}, not {v1}")))
        );
        assert_eq!(kv.get("alice", "t", "k").unwrap().version, v2);
    }

    #[test]
    fn a_batch_applies_all_or_nothing_and_names_the_failing_write() {
        let kv = kv();
        kv.set("bob", "theirs", "k", "1").unwrap();
        let writes = [
            Write::Set { table: "mine", key: "a", value: "1", ttl_ms: None },
            Write::Increment { table: "mine", key: "n", delta: 1 },
            Write::Set { table: "theirs", key: "k", value: "2", ttl_ms: None },
        ];
        let err = kv.write("alice", &writes).unwrap_err();
        assert_eq!(err.index, 2);
        assert!(matches!(err.error, KvError::PermissionDenied(_)));
        assert!(kv.list_tables("alice").unwrap().is_empty(), "nothing was created");

        let missing = [writes[0], Write::Delete { table: "mine", key: "nope" }];
        let err = kv.write("alice", &missing).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(matches!(err.error, KvError::NotFound(_)));
        assert!(matches!(kv.get("alice", "mine", "a"), Err(KvError::NotFound(_))), "the set was rolled back");

        let written = kv.write("alice", &writes[..2]).unwrap();
        assert!(matches!(written[..], [Written::Set(_), Written::Incremented(1)]));
    }

    #[test]
    fn ttl_must_be_positive_and_items_show_their_expiry() {
        let kv = kv();
        let set = |ttl_ms| kv.write_one("alice", Write::Set { table: "t", key: "k", value: "1", ttl_ms });
        assert!(matches!(set(Some(0)), Err(KvError::InvalidInput(_))));
        assert!(matches!(set(Some(MAX_TTL_MS + 1)), Err(KvError::InvalidInput(_))));
        set(Some(60_000)).unwrap();
        let item = kv.get("alice", "t", "k").unwrap();
        assert_eq!(item.expires_at, Some(item.updated_at + 60_000));
        kv.set("alice", "t", "k", "2").unwrap();
        assert_eq!(kv.get("alice", "t", "k").unwrap().expires_at, None, "a set without ttl clears it");
    }
}
