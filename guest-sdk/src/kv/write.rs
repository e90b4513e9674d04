//! Writes as values: the condition of a conditional set ([`Expected`]), one write
//! ([`Write`]) that runs alone ([`Kv::apply`](crate::Kv::apply)) or with others
//! in a batch ([`Kv::batch`](crate::Kv::batch)), what it did ([`Written`]), and
//! why a batch changed nothing ([`BatchError`]).

use core::fmt;
use core::time::Duration;

use serde::Serialize;

use super::{KvError, encode};
use crate::wit::floww::workflow::kv as wit;

/// What a conditional write expects to find: the condition of
/// [`Kv::set_if`](crate::Kv::set_if) and [`Write::set_if`].
///
/// The write happens only if the item is in that state; otherwise it is a
/// [`KvError::Conflict`] and nothing changes. Read the version with
/// [`Kv::get_item`](crate::Kv::get_item).
///
/// ```no_run
/// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
/// use floww::Expected;
///
/// // Create only: a second `create` of the same key is a conflict.
/// ctx.kv.set_if("users", "user-123", &"John", Expected::Absent)?;
/// // Update only what we read: a write in between is a conflict.
/// let item = ctx.kv.get_item::<String>("users", "user-123")?;
/// ctx.kv.set_if("users", "user-123", &"Jane", Expected::Version(item.version))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expected {
    /// The key must not exist (an expired item counts as absent).
    Absent,
    /// The item must exist and have this [`version`](crate::Item::version).
    Version(u64),
}

impl Expected {
    /// The WIT's `expected-version`: none for absent.
    pub(crate) fn version(self) -> Option<u64> {
        match self {
            Expected::Absent => None,
            Expected::Version(version) => Some(version),
        }
    }
}

/// `None` is [`Expected::Absent`], `Some(v)` is [`Expected::Version`]: handy when
/// the version comes from an item that may not exist.
///
/// ```no_run
/// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
/// use floww::{Expected, KvError};
///
/// let seen = match ctx.kv.get_item::<u64>("stock", "apples") {
///     Ok(item) => Some(item.version),
///     Err(KvError::NotFound(_)) => None,
///     Err(err) => return Err(err),
/// };
/// ctx.kv.set_if("stock", "apples", &10, Expected::from(seen))?;
/// # Ok(()) }
/// ```
impl From<Option<u64>> for Expected {
    fn from(version: Option<u64>) -> Self {
        version.map_or(Expected::Absent, Expected::Version)
    }
}

/// One write, to run alone with [`Kv::apply`](crate::Kv::apply) or with others,
/// all or nothing, with [`Kv::batch`](crate::Kv::batch).
///
/// Values are serialized when the `Write` is made, so [`Write::set`] and
/// [`Write::set_if`] return a `Result`; the `_json` constructors take JSON text
/// as it is and leave checking it to the host.
///
/// ```no_run
/// # fn run(ctx: &floww::Context) -> floww::Result<()> {
/// use std::time::Duration;
/// use floww::{Expected, Write};
///
/// let writes = [
///     Write::set("orders", "order-7", &serde_json::json!({"total": 30}))?,
///     Write::set_if("stock", "apples", &9, Expected::Version(41))?,
///     Write::increment("counters", "orders", 1),
///     Write::delete("carts", "cart-7"),
///     Write::set_json("receipts", "order-7", r#"{"sent": false}"#).with_ttl(Duration::from_secs(3600)),
/// ];
/// ctx.kv.batch(&writes)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write(Op);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// A set, or with `expected` a set-if.
    Set {
        table: String,
        key: String,
        json: String,
        expected: Option<Expected>,
        ttl_ms: Option<u64>,
    },
    Delete {
        table: String,
        key: String,
    },
    Increment {
        table: String,
        key: String,
        delta: i64,
    },
}

impl Write {
    /// Stores `value`, serialized to JSON, under `key`, as
    /// [`Kv::set`](crate::Kv::set) does. A value serde cannot serialize is
    /// [`KvError::InvalidInput`] here, before anything is sent.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), floww::KvError> {
    /// let write = floww::Write::set("users", "user-123", &serde_json::json!({"name": "John"}))?;
    /// # Ok(()) }
    /// ```
    pub fn set<T: Serialize + ?Sized>(
        table: impl Into<String>,
        key: impl Into<String>,
        value: &T,
    ) -> Result<Write, KvError> {
        let (table, key) = (table.into(), key.into());
        let json = encode(&table, &key, value)?;
        Ok(Write::set_json(table, key, json))
    }

    /// Stores JSON text under `key` as it is; the host checks it.
    ///
    /// ```no_run
    /// let write = floww::Write::set_json("config", "theme", r#"{"dark": true}"#);
    /// ```
    pub fn set_json(table: impl Into<String>, key: impl Into<String>, json: impl Into<String>) -> Write {
        Write(Op::Set { table: table.into(), key: key.into(), json: json.into(), expected: None, ttl_ms: None })
    }

    /// Stores `value` only if the item is as `expected`, as
    /// [`Kv::set_if`](crate::Kv::set_if) does; in a batch, a mismatch fails the
    /// whole batch with [`KvError::Conflict`].
    ///
    /// ```no_run
    /// # fn run() -> Result<(), floww::KvError> {
    /// use floww::{Expected, Write};
    ///
    /// let claim = Write::set_if("seats", "12A", &"user-123", Expected::Absent)?;
    /// # Ok(()) }
    /// ```
    pub fn set_if<T: Serialize + ?Sized>(
        table: impl Into<String>,
        key: impl Into<String>,
        value: &T,
        expected: Expected,
    ) -> Result<Write, KvError> {
        let (table, key) = (table.into(), key.into());
        let json = encode(&table, &key, value)?;
        Ok(Write::set_if_json(table, key, json, expected))
    }

    /// [`Write::set_if`] with JSON text, as it is.
    ///
    /// ```no_run
    /// use floww::{Expected, Write};
    ///
    /// let write = Write::set_if_json("config", "theme", r#"{"dark": false}"#, Expected::Version(3));
    /// ```
    pub fn set_if_json(
        table: impl Into<String>,
        key: impl Into<String>,
        json: impl Into<String>,
        expected: Expected,
    ) -> Write {
        Write(Op::Set {
            table: table.into(),
            key: key.into(),
            json: json.into(),
            expected: Some(expected),
            ttl_ms: None,
        })
    }

    /// Removes `key`; a missing key is [`KvError::NotFound`] (and fails a batch).
    ///
    /// ```no_run
    /// let write = floww::Write::delete("sessions", "sess-abc123");
    /// ```
    pub fn delete(table: impl Into<String>, key: impl Into<String>) -> Write {
        Write(Op::Delete { table: table.into(), key: key.into() })
    }

    /// Adds `delta` to the integer under `key`, as
    /// [`Kv::increment`](crate::Kv::increment) does.
    ///
    /// ```no_run
    /// let write = floww::Write::increment("counters", "page-views", 1);
    /// ```
    pub fn increment(table: impl Into<String>, key: impl Into<String>, delta: i64) -> Write {
        Write(Op::Increment { table: table.into(), key: key.into(), delta })
    }

    /// Makes a set (or set-if) expire `ttl` after it is written, rounded down to
    /// whole milliseconds; the host takes 1 ms to ten years and answers anything
    /// else with [`KvError::InvalidInput`]. Without it, a set
    /// keeps the item until it is deleted and clears any earlier expiry.
    /// Deletes and increments have no TTL: on them this changes nothing (an
    /// increment keeps the item's expiry).
    ///
    /// ```no_run
    /// # fn run() -> Result<(), floww::KvError> {
    /// use std::time::Duration;
    ///
    /// let write = floww::Write::set("cache", "report", &42)?.with_ttl(Duration::from_secs(300));
    /// # Ok(()) }
    /// ```
    pub fn with_ttl(mut self, ttl: Duration) -> Write {
        if let Op::Set { ttl_ms, .. } = &mut self.0 {
            *ttl_ms = Some(crate::millis(ttl));
        }
        self
    }

    /// Runs this write alone, through the single-write host call that matches it.
    pub(crate) fn apply(&self) -> Result<Written, KvError> {
        Ok(match &self.0 {
            Op::Set { table, key, json, expected: None, ttl_ms } => Written::Set(wit::set(table, key, json, *ttl_ms)?),
            Op::Set { table, key, json, expected: Some(expected), ttl_ms } => {
                Written::SetIf(wit::set_if(table, key, json, expected.version(), *ttl_ms)?)
            }
            Op::Delete { table, key } => {
                wit::delete(table, key)?;
                Written::Deleted
            }
            Op::Increment { table, key, delta } => Written::Incremented(wit::increment(table, key, *delta)?),
        })
    }
}

impl From<&Write> for wit::Write {
    fn from(write: &Write) -> Self {
        match write.0.clone() {
            Op::Set { table, key, json: value, expected: None, ttl_ms } => {
                wit::Write::Set(wit::SetOp { table, key, value, ttl_ms })
            }
            Op::Set { table, key, json: value, expected: Some(expected), ttl_ms } => {
                wit::Write::SetIf(wit::SetIfOp { table, key, value, expected_version: expected.version(), ttl_ms })
            }
            Op::Delete { table, key } => wit::Write::Delete(wit::KeyRef { table, key }),
            Op::Increment { table, key, delta } => wit::Write::Increment(wit::IncrementOp { table, key, delta }),
        }
    }
}

/// What one [`Write`] did, in the order of the writes given to
/// [`Kv::batch`](crate::Kv::batch), or alone from [`Kv::apply`](crate::Kv::apply).
///
/// ```no_run
/// # fn run(ctx: &floww::Context) -> floww::Result<()> {
/// use floww::{Write, Written};
///
/// let done = ctx.kv.batch(&[Write::set("orders", "o-1", &30)?, Write::increment("counters", "orders", 1)])?;
/// if let [Written::Set(version), Written::Incremented(orders)] = done[..] {
///     floww::info!("order stored as version {version}; {orders} orders so far");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Written {
    /// A [`Write::set`] stored the item; its new version.
    Set(u64),
    /// A [`Write::set_if`] found what it expected and stored the item; its new version.
    SetIf(u64),
    /// A [`Write::delete`] removed the item.
    Deleted,
    /// An [`Write::increment`] stored this integer.
    Incremented(i64),
}

impl From<wit::Written> for Written {
    fn from(written: wit::Written) -> Self {
        match written {
            wit::Written::Set(version) => Written::Set(version),
            wit::Written::SetIf(version) => Written::SetIf(version),
            wit::Written::Deleted => Written::Deleted,
            wit::Written::Incremented(value) => Written::Incremented(value),
        }
    }
}

/// Why a [`Kv::batch`](crate::Kv::batch) changed nothing: the first write that
/// failed, by its 0-based index in the batch, and its error.
///
/// `?` in a handler turns it into a [`floww::Error`](crate::Error) with the
/// error's status and the message `write #<index> failed: <error>`.
///
/// ```no_run
/// # fn run(ctx: &floww::Context) -> floww::Result<()> {
/// use floww::{Expected, KvError, Write};
///
/// let writes = [Write::set_if("seats", "12A", &"user-123", Expected::Absent)?, Write::increment("counters", "seats", 1)];
/// match ctx.kv.batch(&writes) {
///     Ok(_) => floww::info!("seat taken"),
///     Err(err) if err.index == 0 && matches!(err.error, KvError::Conflict(_)) => floww::info!("someone was faster"),
///     Err(err) => return Err(err.into()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    /// The position of the write that failed, from 0.
    pub index: usize,
    /// Why it failed.
    pub error: KvError,
}

impl BatchError {
    /// The HTTP status of the failed write's error (see [`KvError::status_code`]).
    ///
    /// ```no_run
    /// use floww::{BatchError, KvError};
    ///
    /// let err = BatchError { index: 1, error: KvError::Conflict("version 3 expected".into()) };
    /// assert_eq!(err.status_code(), 409);
    /// ```
    pub fn status_code(&self) -> u16 {
        self.error.status_code()
    }
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "write #{} failed: {}", self.index, self.error)
    }
}

/// The message already includes the failed write's error, so `source` is `None`
/// rather than repeating it.
impl std::error::Error for BatchError {}

impl From<wit::BatchError> for BatchError {
    fn from(err: wit::BatchError) -> Self {
        // The WIT index is a u32; every target the SDK builds for has a usize at least that wide.
        BatchError { index: usize::try_from(err.index).unwrap_or(usize::MAX), error: err.error.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_wit(write: &Write) -> wit::Write {
        wit::Write::from(write)
    }

    #[test]
    fn set_serializes_the_value_once_made() {
        let write = Write::set("t", "k", &serde_json::json!({"n": 1})).unwrap();
        let wit::Write::Set(op) = to_wit(&write) else { panic!("{write:?}") };
        assert_eq!((op.table.as_str(), op.key.as_str(), op.value.as_str(), op.ttl_ms), ("t", "k", r#"{"n":1}"#, None));
    }

    #[test]
    fn set_of_an_unserializable_value_is_invalid_input() {
        let value: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = Write::set("t", "k", &value).unwrap_err();
        assert_eq!(err.kind(), "invalid-input");
        assert!(err.message().contains("`k`") && err.message().contains("`t`"), "{err}");
        assert_eq!(Write::set_if("t", "k", &value, Expected::Absent).unwrap_err().kind(), "invalid-input");
    }

    #[test]
    fn set_if_carries_the_expected_version() {
        let absent = to_wit(&Write::set_if("t", "k", &1, Expected::Absent).unwrap());
        let wit::Write::SetIf(op) = absent else { panic!() };
        assert_eq!((op.value.as_str(), op.expected_version, op.ttl_ms), ("1", None, None));

        let versioned = to_wit(&Write::set_if_json("t", "k", "not json", Expected::Version(7)));
        let wit::Write::SetIf(op) = versioned else { panic!() };
        assert_eq!((op.value.as_str(), op.expected_version), ("not json", Some(7)), "text is passed as it is");
    }

    #[test]
    fn with_ttl_sets_milliseconds_on_sets_only() {
        let wit::Write::Set(op) = to_wit(&Write::set_json("t", "k", "1").with_ttl(Duration::from_secs(300))) else {
            panic!()
        };
        assert_eq!(op.ttl_ms, Some(300_000));
        let wit::Write::SetIf(op) =
            to_wit(&Write::set_if_json("t", "k", "1", Expected::Absent).with_ttl(Duration::from_millis(5)))
        else {
            panic!()
        };
        assert_eq!(op.ttl_ms, Some(5));

        let delete = Write::delete("t", "k");
        assert_eq!(delete.clone().with_ttl(Duration::from_secs(1)), delete);
        let increment = Write::increment("t", "k", 2);
        assert_eq!(increment.clone().with_ttl(Duration::from_secs(1)), increment);
    }

    #[test]
    fn delete_and_increment_convert() {
        let wit::Write::Delete(op) = to_wit(&Write::delete("t", "k")) else { panic!() };
        assert_eq!((op.table.as_str(), op.key.as_str()), ("t", "k"));
        let wit::Write::Increment(op) = to_wit(&Write::increment("t", "k", -3)) else { panic!() };
        assert_eq!((op.table.as_str(), op.key.as_str(), op.delta), ("t", "k", -3));
    }

    #[test]
    fn expected_from_an_optional_version() {
        assert_eq!(Expected::from(None), Expected::Absent);
        assert_eq!(Expected::from(Some(4)), Expected::Version(4));
        assert_eq!((Expected::Absent.version(), Expected::Version(4).version()), (None, Some(4)));
    }

    #[test]
    fn written_converts_every_case() {
        let cases = [
            (wit::Written::Set(1), Written::Set(1)),
            (wit::Written::SetIf(2), Written::SetIf(2)),
            (wit::Written::Deleted, Written::Deleted),
            (wit::Written::Incremented(-5), Written::Incremented(-5)),
        ];
        for (from, to) in cases {
            assert_eq!(Written::from(from), to);
        }
    }

    #[test]
    fn batch_error_names_the_write_and_keeps_the_status() {
        let err =
            BatchError::from(wit::BatchError { index: 2, error: wit::KvError::Conflict("version 3 expected".into()) });
        assert_eq!(err, BatchError { index: 2, error: KvError::Conflict("version 3 expected".into()) });
        assert_eq!(err.to_string(), "write #2 failed: version 3 expected");
        assert_eq!(err.status_code(), 409);
        assert!(std::error::Error::source(&err).is_none());
    }
}
