//! The runtime's code cache, by the SHA-256 of each component:
//! - in memory while some workflow uses it, so deploying one component under
//!   many ids compiles or maps it once (a component is immutable code;
//!   everything an execution can change lives in its own store, so sharing
//!   it shares no state);
//! - on disk, `<dir>/<sha256>-<engine>.cwasm`, so a restart need not compile.
//!   The engine part names the compiled-code format: files of another engine
//!   (another wasmtime, other settings) are not read.

use std::collections::HashMap;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use crate::storage::write_atomically;

/// Code by the hex SHA-256 of its component.
pub struct CodeCache<T> {
    dir: PathBuf,
    engine: String,
    entries: Mutex<HashMap<String, Weak<T>>>,
}

impl<T> CodeCache<T> {
    /// A cache keeping its files in `dir` (created if missing), for an
    /// engine whose `precompile_compatibility_hash` is `engine`.
    pub fn open(dir: &Path, engine: impl Hash) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut hasher = std::hash::DefaultHasher::new();
        engine.hash(&mut hasher);
        Ok(Self { dir: dir.to_owned(), engine: format!("{:016x}", hasher.finish()), entries: Mutex::default() })
    }

    /// Where the compiled code of component `sha256` is kept on disk.
    pub fn file(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine))
    }

    /// The code of `sha256`, or what `make` makes (kept while someone holds
    /// it, if it succeeds). `make` runs outside the lock, so two first uses
    /// of the same code may both make it; the later one is kept.
    pub fn get_or_make<E>(&self, sha256: &str, make: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E> {
        if let Some(code) = self.lock().get(sha256).and_then(Weak::upgrade) {
            return Ok(code);
        }
        let code = Arc::new(make()?);
        let mut entries = self.lock();
        entries.retain(|_, code| code.strong_count() > 0);
        entries.insert(sha256.to_owned(), Arc::downgrade(&code));
        Ok(code)
    }

    /// Writes compiled code to disk; says whether it is there. The cache
    /// only saves time: a failure is logged, not passed on.
    pub fn save(&self, sha256: &str, bytes: &[u8]) -> bool {
        let path = self.file(sha256);
        match write_atomically(&path, bytes) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("could not cache compiled code in {}: {e}", path.display());
                false
            }
        }
    }

    /// Removes the files of every component but those in `used`.
    pub fn remove_files_except(&self, used: &[String]) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if !used.iter().any(|sha| name.starts_with(sha.as_str())) {
                let _ = fs::remove_file(&path);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<T>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_component_is_made_once_while_held_and_again_after() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::<String>::open(dir.path(), 1).unwrap();
        let made = std::cell::Cell::new(0);
        let get = |sha: &str| {
            cache
                .get_or_make(sha, || {
                    made.set(made.get() + 1);
                    Ok::<_, ()>(sha.to_owned())
                })
                .unwrap()
        };
        let a = get("a");
        let again = get("a");
        assert!(Arc::ptr_eq(&a, &again));
        let b = get("b");
        assert_eq!((a.as_str(), b.as_str()), ("a", "b"));
        drop((a, again));
        get("a");
        assert_eq!(made.get(), 3, "a, b, then a again once nobody held it");
    }

    #[test]
    fn a_failure_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::<u8>::open(dir.path(), 1).unwrap();
        assert!(cache.get_or_make("x", || Err("bad")).is_err());
        assert_eq!(*cache.get_or_make("x", || Ok::<_, ()>(7)).unwrap(), 7);
    }

    #[test]
    fn files_are_named_by_engine_and_unused_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (one, other) =
            (CodeCache::<u8>::open(dir.path(), 1).unwrap(), CodeCache::<u8>::open(dir.path(), 2).unwrap());
        assert_ne!(one.file("aa"), other.file("aa"), "another engine's files are not read");
        assert!(one.save("aa", b"code") && one.save("bb", b"code"));
        assert!(one.file("aa").exists() && one.file("bb").exists());
        one.remove_files_except(&["bb".to_owned()]);
        assert!(!one.file("aa").exists() && one.file("bb").exists());
    }

    #[test]
    fn a_save_that_fails_says_so_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::<u8>::open(&dir.path().join("code"), 1).unwrap();
        fs::remove_dir(dir.path().join("code")).unwrap();
        assert!(!cache.save("aa", b"code"));
        assert!(!cache.file("aa").exists());
    }
}
