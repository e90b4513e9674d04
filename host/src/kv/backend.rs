//! The storage trait: what a KV backend must keep. Backends store, list and
//! apply groups of writes atomically; they know nothing of WIT, names or
//! permissions (those live in `kv`).

use super::staging::{StepCommit, StepFailure};
use crate::storage::{StorageError, StorageResult};

/// Rights that a grant gives on a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

/// A stored value with its metadata; times in ms since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub key: String,
    /// JSON text.
    pub value: String,
    pub created_at: u64,
    pub updated_at: u64,
    /// Unique across the store and never reused: changes on every write.
    pub version: u64,
    pub expires_at: Option<u64>,
}

impl Item {
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expires_at.is_none_or(|at| at > now_ms)
    }
}

/// One write of an atomic group.
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    /// Stores `value`; with a time-to-live (ms) it expires, without it never does.
    Set {
        table: &'a str,
        key: &'a str,
        value: &'a str,
        ttl_ms: Option<u64>,
    },
    /// Set only if the item's version is `expected` (`None`: only if absent).
    SetIf {
        table: &'a str,
        key: &'a str,
        value: &'a str,
        expected: Option<u64>,
        ttl_ms: Option<u64>,
    },
    Delete {
        table: &'a str,
        key: &'a str,
    },
    /// Adds `delta` to a JSON integer (absent: 0); keeps the item's expiry.
    Increment {
        table: &'a str,
        key: &'a str,
        delta: i64,
    },
}

impl Write<'_> {
    pub fn table(&self) -> &str {
        match self {
            Write::Set { table, .. }
            | Write::SetIf { table, .. }
            | Write::Delete { table, .. }
            | Write::Increment { table, .. } => table,
        }
    }

    /// The operation's WIT name, e.g. `set-if`.
    pub fn operation(&self) -> &'static str {
        match self {
            Write::Set { .. } => "set",
            Write::SetIf { .. } => "set-if",
            Write::Delete { .. } => "delete",
            Write::Increment { .. } => "increment",
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Write::Set { key, .. }
            | Write::SetIf { key, .. }
            | Write::Delete { key, .. }
            | Write::Increment { key, .. } => key,
        }
    }
}

/// What a write does to the stored item: the pure part of [`Backend::write`],
/// shared by every backend so they agree on the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Store `value` as a new version (keeping created-at if the item lives).
    Put {
        value: String,
        expires_at: Option<u64>,
    },
    /// Store the integer `sum`, as an increment does.
    Count {
        sum: i64,
        expires_at: Option<u64>,
    },
    Remove,
}

impl Change {
    /// The JSON text and expiry to store, unless the item goes.
    pub fn stored(&self) -> Option<(String, Option<u64>)> {
        match self {
            Change::Put { value, expires_at } => Some((value.clone(), *expires_at)),
            Change::Count { sum, expires_at } => Some((sum.to_string(), *expires_at)),
            Change::Remove => None,
        }
    }
}

impl Write<'_> {
    /// What this write does to `old`, the live item under its key (if any).
    pub fn change(&self, old: Option<&Item>, now_ms: u64) -> Result<Change, WriteFailure> {
        let expiry = |ttl_ms: Option<u64>| ttl_ms.map(|ttl| now_ms.saturating_add(ttl));
        match *self {
            Write::Set { value, ttl_ms, .. } => Ok(Change::Put { value: value.to_owned(), expires_at: expiry(ttl_ms) }),
            Write::SetIf { value, expected, ttl_ms, .. } => {
                let actual = old.map(|o| o.version);
                if actual != expected {
                    return Err(WriteFailure::VersionMismatch { expected, actual });
                }
                Ok(Change::Put { value: value.to_owned(), expires_at: expiry(ttl_ms) })
            }
            Write::Delete { .. } => old.map(|_| Change::Remove).ok_or(WriteFailure::Missing),
            Write::Increment { delta, .. } => {
                let current = match old {
                    None => 0,
                    Some(o) => serde_json::from_str::<i64>(&o.value).map_err(|_| WriteFailure::NotInteger)?,
                };
                let sum = current.checked_add(delta).ok_or(WriteFailure::Overflow)?;
                Ok(Change::Count { sum, expires_at: old.and_then(|o| o.expires_at) })
            }
        }
    }

    /// What the write answers once `change` is stored (as `version`).
    pub fn written(&self, change: &Change, version: u64) -> Written {
        match change {
            Change::Remove => Written::Deleted,
            Change::Count { sum, .. } => Written::Incremented(*sum),
            Change::Put { .. } if matches!(self, Write::SetIf { .. }) => Written::SetIf(version),
            Change::Put { .. } => Written::Set(version),
        }
    }
}

/// What one write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The item's new version.
    Set(u64),
    SetIf(u64),
    Deleted,
    /// The integer now stored.
    Incremented(i64),
}

/// Why a write of a group could not be applied; the group changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteFailure {
    /// A delete found no live item.
    Missing,
    /// A set-if found another version (`None`: no live item).
    VersionMismatch { expected: Option<u64>, actual: Option<u64> },
    /// An increment found a value that is not a JSON integer.
    NotInteger,
    /// An increment would leave the range of a 64-bit integer.
    Overflow,
    /// A table to be created exists now, owned by someone else.
    TableTaken,
    /// A table the write found is gone (dropped) or being dropped.
    TableGone,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("write {index} failed: {failure:?}")]
    Failed { index: usize, failure: WriteFailure },
}

/// Which part of a table to list: keys starting with `prefix`, after the
/// key `after`, at most `limit`, and (for item listings) no more entries
/// once their keys and values add up to `max_bytes`: the entry that crosses
/// it waits for the next page, unless it is the first.
#[derive(Debug, Clone, Copy)]
pub struct Range<'a> {
    pub prefix: &'a str,
    pub after: Option<&'a str>,
    pub limit: usize,
    pub max_bytes: usize,
}

/// A page of a listing; `more` is true when entries follow the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    pub entries: Vec<T>,
    pub more: bool,
}

/// Resolves once writes are durable (or their flush failed).
pub type Durable = std::pin::Pin<Box<dyn Future<Output = StorageResult<()>> + Send>>;

/// The [`Durable`] of writes that already are.
pub fn already_durable() -> Durable {
    Box::pin(std::future::ready(Ok(())))
}

/// Storage for tables, their owners and grants, and items.
///
/// Every method that returns `Ok` after a change has made it durable (unless
/// the backend was opened without durability). Reads and listings skip items
/// whose expiry is at or before `now_ms`; listings are sorted by name.
pub trait Backend: Send + Sync + 'static {
    /// Whether a read waits on I/O (a database round trip) rather than
    /// only reading local pages: the host then moves it off the async workers.
    fn reads_wait(&self) -> bool;

    /// The owner of `table`, if the table exists.
    fn table_owner(&self, table: &str) -> StorageResult<Option<String>>;
    /// All tables with their owners.
    fn tables(&self) -> StorageResult<Vec<(String, String)>>;

    /// The grant `workflow` holds on `table`.
    fn grant(&self, table: &str, workflow: &str) -> StorageResult<Option<Access>>;
    /// Every grant on `table`, by workflow id.
    fn grants(&self, table: &str) -> StorageResult<Vec<(String, Access)>>;
    /// The tables on which `workflow` holds a grant.
    fn granted_tables(&self, workflow: &str) -> StorageResult<Vec<String>>;
    /// Creates or replaces a grant on a table `owner` owns; `false` (and no
    /// grant) if the table is gone or owned by another now.
    fn put_grant(&self, table: &str, owner: &str, workflow: &str, access: Access) -> StorageResult<bool>;
    /// Removes a grant; `false` if there was none.
    fn remove_grant(&self, table: &str, workflow: &str) -> StorageResult<bool>;

    fn get(&self, table: &str, key: &str, now_ms: u64) -> StorageResult<Option<Item>>;
    /// Applies `writes` in order, all or none, creating `new_tables` (owned
    /// by `owner`) in the same step. Every other table a write names must
    /// exist until the step commits: a table dropped meanwhile is `TableGone`.
    fn write(
        &self,
        owner: &str,
        new_tables: &[&str],
        writes: &[Write<'_>],
        now_ms: u64,
    ) -> Result<Vec<Written>, WriteError>;
    /// [`write`](Backend::write), returning once the writes are applied and
    /// before they are durable, with what to await before acknowledging
    /// them: for a backend whose writes only touch local pages (reads don't
    /// [wait](Backend::reads_wait)), so the host applies a guest's write on
    /// its async worker and holds no thread while the flush runs. By default
    /// the writes are durable on return.
    fn write_in_place(
        &self,
        owner: &str,
        new_tables: &[&str],
        writes: &[Write<'_>],
        now_ms: u64,
    ) -> Result<(Vec<Written>, Durable), WriteError> {
        Ok((self.write(owner, new_tables, writes, now_ms)?, already_durable()))
    }
    fn keys(&self, table: &str, range: Range<'_>, now_ms: u64) -> StorageResult<Listed<String>>;
    fn items(&self, table: &str, range: Range<'_>, now_ms: u64) -> StorageResult<Listed<Item>>;
    /// Removes `table` with its items and grants if `owner` owns it, so the
    /// name is free again and nothing of it outlives it (a write or grant
    /// racing the drop fails); `false` if `owner` does not own it.
    fn drop_table(&self, table: &str, owner: &str) -> StorageResult<bool>;
    /// Deletes items expired at `now_ms` from storage; returns how many.
    fn remove_expired(&self, now_ms: u64) -> StorageResult<usize>;

    /// A version no write has had or will have: for a write staged now and
    /// committed later ([`Backend::commit_step`]).
    fn reserve_version(&self) -> StorageResult<u64>;
    /// Commits a durable run's step in one transaction: checks that every
    /// item it saw is at the version it saw (live items only), that the
    /// run's lease is the step's and its journal has no entry at the step's
    /// index, then creates its tables, stores its items (with their
    /// reserved versions) and appends the entry. All or nothing.
    fn commit_step(&self, commit: &StepCommit<'_>, now_ms: u64) -> Result<(), StepFailure>;
}
