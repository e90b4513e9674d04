//! The storage trait: what a KV backend must keep. Backends store and list;
//! they know nothing of WIT, names or permissions (those live in `kv`).

/// Rights that a grant gives on a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

/// A stored value: JSON text with its timestamps (ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub key: String,
    pub value: String,
    pub created_at: u64,
    pub updated_at: u64,
}

/// A backend failed (I/O, corrupt data). Never shown to guests.
#[derive(Debug, thiserror::Error)]
#[error("storage backend failed: {0}")]
pub struct StorageError(pub Box<dyn std::error::Error + Send + Sync>);

pub type StorageResult<T> = Result<T, StorageError>;

/// Storage for tables, their owners and grants, and items.
///
/// Every method that returns `Ok` after a change has made it durable.
/// Listings are sorted by name.
pub trait Backend: Send + Sync + 'static {
    /// The owner of `table`, if the table exists.
    fn table_owner(&self, table: &str) -> StorageResult<Option<String>>;
    /// Creates `table` owned by `owner` unless it exists; returns the owner
    /// it has afterwards (the existing one if another caller won the race).
    fn create_table(&self, table: &str, owner: &str) -> StorageResult<String>;
    /// All tables with their owners.
    fn tables(&self) -> StorageResult<Vec<(String, String)>>;

    /// The grant `workflow` holds on `table`.
    fn grant(&self, table: &str, workflow: &str) -> StorageResult<Option<Access>>;
    /// Every grant on `table`, by workflow id.
    fn grants(&self, table: &str) -> StorageResult<Vec<(String, Access)>>;
    /// The tables on which `workflow` holds a grant.
    fn granted_tables(&self, workflow: &str) -> StorageResult<Vec<String>>;
    /// Creates or replaces a grant.
    fn put_grant(&self, table: &str, workflow: &str, access: Access) -> StorageResult<()>;
    /// Removes a grant; `false` if there was none.
    fn remove_grant(&self, table: &str, workflow: &str) -> StorageResult<bool>;

    fn get(&self, table: &str, key: &str) -> StorageResult<Option<Item>>;
    /// Stores `value`, keeping the item's created-at if it exists.
    fn put(&self, table: &str, key: &str, value: &str, now_ms: u64) -> StorageResult<()>;
    /// Removes an item; `false` if there was none.
    fn remove(&self, table: &str, key: &str) -> StorageResult<bool>;
    fn keys(&self, table: &str) -> StorageResult<Vec<String>>;
    fn items(&self, table: &str) -> StorageResult<Vec<Item>>;
}
