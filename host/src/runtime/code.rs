//! Compiled code shared between workflows: deploying the same component
//! under many ids (or loading the same cached file for each of them) compiles
//! or maps it once. A component is immutable code; everything an execution
//! can change lives in its own store, so sharing it shares no state.
//!
//! Entries are weak: the code goes away with the last workflow using it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// Names one version of compiled code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CodeKey {
    /// Compiled from component bytes with this SHA-256.
    Bytes([u8; 32]),
    /// Loaded from this file, as it was when read: a rewritten file (the
    /// registry writes a new file and renames it) is a new key.
    File { path: PathBuf, inode: u64, len: u64, modified: Option<SystemTime> },
}

impl CodeKey {
    pub fn of_bytes(bytes: &[u8]) -> Self {
        CodeKey::Bytes(Sha256::digest(bytes).into())
    }

    pub fn of_file(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok(CodeKey::File { path: path.to_owned(), inode: meta.ino(), len: meta.len(), modified: meta.modified().ok() })
    }
}

/// Code by key, for as long as someone holds it.
pub struct CodeCache<T> {
    entries: Mutex<HashMap<CodeKey, Weak<T>>>,
}

impl<T> Default for CodeCache<T> {
    fn default() -> Self {
        Self { entries: Mutex::default() }
    }
}

impl<T> CodeCache<T> {
    /// The code under `key`, or what `make` makes (kept under `key` if it
    /// succeeds). `make` runs outside the lock, so two first uses of the same
    /// code may both make it; the later one is kept.
    pub fn get_or_make<E>(&self, key: CodeKey, make: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E> {
        if let Some(code) = self.lock().get(&key).and_then(Weak::upgrade) {
            return Ok(code);
        }
        let code = Arc::new(make()?);
        let mut entries = self.lock();
        entries.retain(|_, code| code.strong_count() > 0);
        entries.insert(key, Arc::downgrade(&code));
        Ok(code)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CodeKey, Weak<T>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_are_made_once_while_held_and_again_after() {
        let cache = CodeCache::<String>::default();
        let made = std::cell::Cell::new(0);
        let get = |bytes: &[u8]| {
            cache
                .get_or_make(CodeKey::of_bytes(bytes), || {
                    made.set(made.get() + 1);
                    Ok::<_, ()>(String::from_utf8_lossy(bytes).into_owned())
                })
                .unwrap()
        };
        let a = get(b"a");
        let again = get(b"a");
        assert!(Arc::ptr_eq(&a, &again));
        let b = get(b"b");
        assert_eq!((a.as_str(), b.as_str()), ("a", "b"));
        drop((a, again));
        get(b"a");
        assert_eq!(made.get(), 3, "a, b, then a again once nobody held it");
    }

    #[test]
    fn a_failure_is_not_kept() {
        let cache = CodeCache::<u8>::default();
        assert!(cache.get_or_make(CodeKey::of_bytes(b"x"), || Err("bad")).is_err());
        assert_eq!(*cache.get_or_make(CodeKey::of_bytes(b"x"), || Ok::<_, ()>(7)).unwrap(), 7);
    }

    #[test]
    fn a_rewritten_file_is_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code");
        std::fs::write(&path, b"one").unwrap();
        let first = CodeKey::of_file(&path).unwrap();
        assert_eq!(first, CodeKey::of_file(&path).unwrap());
        let tmp = dir.path().join("tmp");
        std::fs::write(&tmp, b"two!").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_ne!(first, CodeKey::of_file(&path).unwrap());
    }
}
