//! The ground floor: what every store shares. The storage error that each
//! store (KV backends, deployments, execution records, cron ticks) returns,
//! the PostgreSQL connection code, atomic file writes, the wall clock, and the
//! checked [`WorkflowId`]. It imports nothing else of the host.

mod id;
pub mod postgres;
#[cfg(any(test, feature = "test-support"))]
mod scratch;

use std::fs;
use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub use self::id::{InvalidWorkflowId, WorkflowId};
pub use self::postgres::Database;
#[cfg(any(test, feature = "test-support"))]
pub use self::scratch::ScratchDatabase;

/// The sled trees a durable run's step commits into with its KV writes:
/// its journal (run id NUL index as 4 big-endian bytes → entry JSON) and
/// the lease of the invocation that holds it (run id → lease).
pub const RUN_JOURNAL_TREE: &str = "run-journal";
pub const RUN_LEASES_TREE: &str = "run-leases";

/// A store failed. Details are for the log, never for guests or callers.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store can't be reached (its database is down, or every connection
    /// is busy); a retry later may succeed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// I/O failed or stored data is corrupt.
    #[error("storage backend failed: {0}")]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl StorageError {
    pub fn failed(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StorageError::Failed(e.into())
    }

    /// Stored data that can't be read back, naming where it is.
    pub fn corrupt(place: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        StorageError::failed(format!("{place}: {e}"))
    }
}

impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        StorageError::Failed(e.into())
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// Milliseconds since the Unix epoch, by the wall clock.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Writes a file via a synced temporary and a rename, so readers and crashes
/// see the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = fs::File::create(&tmp)?;
        io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Fills `bytes` from the OS's randomness.
pub fn random_bytes(bytes: &mut [u8]) -> io::Result<()> {
    io::Read::read_exact(&mut fs::File::open("/dev/urandom")?, bytes)
}

/// `n` random bytes as hex.
pub fn random_hex(n: usize) -> io::Result<String> {
    let mut bytes = vec![0u8; n];
    random_bytes(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates `path` with `text`, readable and writable by the owner only;
/// fails if it exists.
pub fn create_private_file(path: &Path, text: &str) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()
}
