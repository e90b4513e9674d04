//! Per-workflow secrets: set by the operator through the admin API, sealed
//! at rest with the host's key (`crypto`), never read back by the API, read
//! by the running workflow only (its `secrets` import), and redacted from
//! what the host keeps or prints of that workflow's executions.
//!
//! Each backend keeps sealed values (`SecretStore`: sled in the data dir, or
//! the `--store` database, shared by every host on it). Values are cached per
//! workflow for a second, so a change made through another host sharing the
//! database is seen within that.

mod crypto;
mod host;
mod postgres;
mod sled;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use self::crypto::{SecretKey, key_path};
pub use self::host::SecretsCtx;
pub use self::postgres::PostgresSecrets;
pub use self::sled::SledSecrets;
use crate::storage::{StorageError, StorageResult, WorkflowId, now_ms};

/// The largest secret value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Values shorter than this are not redacted: they would blank out ordinary words.
const MIN_REDACTED_CHARS: usize = 4;
/// How long a workflow's values are kept in memory before they are read again.
const CACHE_FOR: Duration = Duration::from_secs(1);
/// What a secret's value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// A secret as stored: sealed, with when it was last set.
pub struct StoredSecret {
    pub name: String,
    pub sealed: Vec<u8>,
    pub updated_at: u64,
}

/// Storage for sealed secrets.
pub trait SecretStore: Send + Sync + 'static {
    fn put(&self, workflow: &str, name: &str, sealed: &[u8], updated_at: u64) -> StorageResult<()>;
    /// Every secret of `workflow`, sorted by name.
    fn all(&self, workflow: &str) -> StorageResult<Vec<StoredSecret>>;
    /// `false` if there was none.
    fn remove(&self, workflow: &str, name: &str) -> StorageResult<bool>;
    /// A value sealed with the key the store's secrets were sealed with.
    fn key_check(&self) -> StorageResult<Option<Vec<u8>>>;
    fn set_key_check(&self, sealed: &[u8]) -> StorageResult<()>;
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("workflow {workflow:?} has no secret {name:?}")]
    NotFound { workflow: String, name: String },
    #[error("a secret's value is at most {MAX_VALUE_BYTES} bytes, not {0}")]
    TooLarge(usize),
    #[error(transparent)]
    KeyMismatch(#[from] KeyMismatch),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the secret key does not open the secrets in this store: give every host sharing it the same --secret-key \
     (FLOWW_SECRET_KEY), or the data dir's secret-key file they were sealed with"
)]
pub struct KeyMismatch;

/// A secret's name and when it was set: all the API tells of it.
pub struct SecretInfo {
    pub name: String,
    pub updated_at: u64,
}

/// The values of one workflow's secrets, by name.
#[derive(Default)]
pub struct SecretValues {
    values: Vec<(String, String)>,
}

impl SecretValues {
    pub fn new(values: Vec<(String, String)>) -> Self {
        Self { values }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// `text` with every value (of at least four characters) replaced by `[redacted]`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for (_, value) in &self.values {
            if value.chars().count() >= MIN_REDACTED_CHARS && text.contains(value.as_str()) {
                text = Cow::Owned(text.replace(value.as_str(), REDACTED));
            }
        }
        text
    }
}

pub struct Secrets {
    store: Arc<dyn SecretStore>,
    key: SecretKey,
    cache: Mutex<HashMap<String, (Instant, Arc<SecretValues>)>>,
}

/// What the key check seals.
const CHECK: (&str, &str, &str) = ("floww", "key-check", "floww secrets");

impl Secrets {
    /// Secrets in `store`, sealed with `key`. Refuses a key that can't open
    /// what the store holds (another host's, or a lost one).
    pub fn open(store: Arc<dyn SecretStore>, key: SecretKey) -> anyhow::Result<Secrets> {
        let secrets = Secrets { store, key, cache: Mutex::default() };
        if let Some(sealed) = secrets.store.key_check()? {
            secrets.check_key(&sealed)?;
        }
        Ok(secrets)
    }

    /// Fails unless `sealed`, the store's check value, opens with this key.
    fn check_key(&self, sealed: &[u8]) -> Result<(), KeyMismatch> {
        let (workflow, name, text) = CHECK;
        match self.key.open(workflow, name, sealed) {
            Some(opened) if opened == text => Ok(()),
            _ => Err(KeyMismatch),
        }
    }

    /// Before the first secret is sealed, the store takes this key's check
    /// value; every host (including one that raced this one) is held to it.
    fn claim_store(&self) -> Result<(), SecretError> {
        if self.store.key_check()?.is_none() {
            let (workflow, name, text) = CHECK;
            self.store.set_key_check(&self.key.seal(workflow, name, text))?;
        }
        let sealed = self.store.key_check()?.unwrap_or_default();
        Ok(self.check_key(&sealed)?)
    }

    pub fn set(&self, workflow: &str, name: &str, value: &str) -> Result<(), SecretError> {
        check(workflow, name)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(SecretError::TooLarge(value.len()));
        }
        self.claim_store()?;
        self.store.put(workflow, name, &self.key.seal(workflow, name, value), now_ms())?;
        self.forget(workflow);
        Ok(())
    }

    /// Names and update times, sorted by name: never the values.
    pub fn list(&self, workflow: &str) -> Result<Vec<SecretInfo>, SecretError> {
        WorkflowId::parse(workflow).map_err(|e| SecretError::InvalidInput(e.to_string()))?;
        let stored = self.store.all(workflow)?;
        Ok(stored.into_iter().map(|s| SecretInfo { name: s.name, updated_at: s.updated_at }).collect())
    }

    pub fn remove(&self, workflow: &str, name: &str) -> Result<(), SecretError> {
        check(workflow, name)?;
        let removed = self.store.remove(workflow, name)?;
        self.forget(workflow);
        if removed { Ok(()) } else { Err(SecretError::NotFound { workflow: workflow.into(), name: name.into() }) }
    }

    /// The values of `workflow`'s secrets, at most a second old. A store
    /// that can't be read gives none (and says so in the log): the guest
    /// then finds its secrets unset.
    pub fn values(&self, workflow: &str) -> Arc<SecretValues> {
        if let Some(values) = self.cached(workflow) {
            return values;
        }
        let values = match self.store.all(workflow) {
            Ok(stored) => Arc::new(SecretValues::new(
                stored
                    .into_iter()
                    .filter_map(|s| match self.key.open(workflow, &s.name, &s.sealed) {
                        Some(value) => Some((s.name, value)),
                        None => {
                            tracing::error!(workflow, name = %s.name, "a stored secret does not open with this key");
                            None
                        }
                    })
                    .collect(),
            )),
            Err(e) => {
                tracing::error!(workflow, error = %e, "could not read the workflow's secrets");
                return Arc::default();
            }
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(workflow.to_owned(), (Instant::now(), values.clone()));
        values
    }

    /// The values of `workflow`'s secrets if they were read less than a
    /// second ago: no I/O, for async callers.
    pub fn cached(&self, workflow: &str) -> Option<Arc<SecretValues>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(workflow).filter(|(read_at, _)| read_at.elapsed() < CACHE_FOR).map(|(_, values)| values.clone())
    }

    fn forget(&self, workflow: &str) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(workflow);
    }
}

/// A workflow id, and a secret name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128.
fn check(workflow: &str, name: &str) -> Result<(), SecretError> {
    WorkflowId::parse(workflow).map_err(|e| SecretError::InvalidInput(e.to_string()))?;
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(SecretError::InvalidInput(format!(
            "secret name {name:?} is not valid: use letters, digits and _, not starting with a digit, e.g. SLACK_TOKEN"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        let db = ::sled::Config::new().temporary(true).open().unwrap();
        let key = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        Secrets::open(Arc::new(SledSecrets::new(&db).unwrap()), key).unwrap()
    }

    #[test]
    fn values_are_set_listed_by_name_only_and_removed() {
        let s = secrets();
        s.set("shop", "TOKEN", "s3cret-value").unwrap();
        s.set("shop", "A_KEY", "other").unwrap();
        let names: Vec<String> = s.list("shop").unwrap().into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["A_KEY", "TOKEN"]);
        assert_eq!(s.values("shop").get("TOKEN"), Some("s3cret-value"));
        assert_eq!(s.values("other").get("TOKEN"), None, "one workflow's secrets are its own");
        s.remove("shop", "TOKEN").unwrap();
        assert_eq!(s.values("shop").get("TOKEN"), None, "a change is seen at once on this host");
        assert!(matches!(s.remove("shop", "TOKEN"), Err(SecretError::NotFound { .. })));
        assert!(matches!(s.set("shop", "1BAD", "v"), Err(SecretError::InvalidInput(m)) if m.contains("not valid")));
        assert!(matches!(s.set("Shop", "OK", "v"), Err(SecretError::InvalidInput(_))));
        assert!(matches!(s.set("shop", "BIG", &"x".repeat(MAX_VALUE_BYTES + 1)), Err(SecretError::TooLarge(_))));
    }

    #[test]
    fn a_store_with_secrets_refuses_a_key_that_did_not_seal_them() {
        let db = ::sled::Config::new().temporary(true).open().unwrap();
        let store = Arc::new(SledSecrets::new(&db).unwrap());
        let key = |hex: &str| SecretKey::from_hex(&hex.repeat(32)).unwrap();
        let first = Secrets::open(store.clone(), key("ab")).unwrap();
        // Without secrets, any key opens the store; the first secret claims it.
        let racer = Secrets::open(store.clone(), key("cd")).unwrap();
        first.set("w", "N", "value").unwrap();
        assert!(matches!(racer.set("w", "M", "v"), Err(SecretError::KeyMismatch(_))), "the racer may not seal");
        let other = Secrets::open(store.clone(), key("cd"));
        assert!(other.err().unwrap().to_string().contains("give every host sharing it the same --secret-key"));
        assert!(Secrets::open(store, key("ab")).is_ok());
    }

    #[test]
    fn values_are_redacted_unless_too_short_to_mean_anything() {
        let values = SecretValues { values: vec![("T".into(), "tok-123".into()), ("S".into(), "abc".into())] };
        assert_eq!(values.redact("sent tok-123 and tok-123, abc"), "sent [redacted] and [redacted], abc");
        assert!(matches!(values.redact("nothing here"), Cow::Borrowed(_)));
    }
}
