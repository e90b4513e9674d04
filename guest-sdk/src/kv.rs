//! The key-value store, as the running workflow sees it.
//!
//! Data lives in **tables** (namespaces) of **keys**, each holding one JSON value.
//! The first successful [`Kv::set`] on a table creates it and makes the running
//! workflow its **owner**; the owner can [grant](Kv::grant_permission) other
//! workflows read and/or write access. Every call acts as the running workflow:
//! the host knows who that is, so no function takes an identity.
//!
//! This module wraps the generated `floww:workflow/kv` bindings; it converts
//! between them and the types below and does the JSON (de)serialization. It knows
//! nothing about HTTP.

use core::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::wit::floww::workflow::kv as wit;

/// A handle to the key-value store, reached through [`Context::kv`](crate::Context::kv).
///
/// Values cross into the host as JSON text: [`get`](Kv::get) and [`set`](Kv::set)
/// convert through serde, [`get_json`](Kv::get_json) and [`set_json`](Kv::set_json)
/// pass the text as it is.
///
/// Tables are named `[A-Za-z0-9_-]{1,255}`, keys `[A-Za-z0-9_.:@-]{1,255}`, and a
/// value is at most 1 MiB of JSON; the host answers anything else with
/// [`KvError::InvalidInput`] or [`KvError::ValueTooLarge`].
#[derive(Debug)]
pub struct Kv {
    _private: (),
}

impl Kv {
    /// The store of the running execution. Only the SDK makes one, for the
    /// [`Context`](crate::Context) it passes to handlers.
    pub(crate) fn new() -> Self {
        Kv { _private: () }
    }

    /// Reads the value under `key` and deserializes it into `T`.
    ///
    /// A missing table or key is [`KvError::NotFound`]; a stored value that is not
    /// a `T` is [`KvError::Decode`].
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// #[derive(serde::Deserialize)]
    /// struct User { name: String }
    ///
    /// let user: User = ctx.kv.get("users", "user-123")?;
    /// floww::info!("hello, {}", user.name);
    /// # Ok(()) }
    /// ```
    pub fn get<T: DeserializeOwned>(&self, table: &str, key: &str) -> Result<T, KvError> {
        let json = self.get_json(table, key)?;
        decode(table, key, &json)
    }

    /// Like [`get`](Kv::get), but a missing table or key is `Ok(None)` instead of
    /// [`KvError::NotFound`]. Every other error is still an error.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// let views: u64 = ctx.kv.get_optional("counters", "page-views")?.unwrap_or(0);
    /// # Ok(()) }
    /// ```
    pub fn get_optional<T: DeserializeOwned>(&self, table: &str, key: &str) -> Result<Option<T>, KvError> {
        match self.get(table, key) {
            Ok(value) => Ok(Some(value)),
            Err(KvError::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Reads the JSON text stored under `key`, exactly as it was stored.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// let text: String = ctx.kv.get_json("users", "user-123")?;
    /// # Ok(()) }
    /// ```
    pub fn get_json(&self, table: &str, key: &str) -> Result<String, KvError> {
        Ok(wit::get(table, key)?)
    }

    /// Serializes `value` to JSON and stores it under `key`, replacing what was
    /// there. The first `set` on a table creates the table, owned by the running
    /// workflow.
    ///
    /// A value that serde cannot serialize (say, a map with non-string keys) is
    /// [`KvError::InvalidInput`] and nothing is sent to the host.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// #[derive(serde::Serialize)]
    /// struct User<'a> { id: &'a str, name: &'a str }
    ///
    /// ctx.kv.set("users", "user-123", &User { id: "user-123", name: "John Doe" })?;
    /// # Ok(()) }
    /// ```
    pub fn set<T: Serialize + ?Sized>(&self, table: &str, key: &str, value: &T) -> Result<(), KvError> {
        let json = serde_json::to_string(value).map_err(|err| {
            KvError::InvalidInput(format!(
                "the value for key `{key}` in table `{table}` cannot be serialized to JSON: {err}"
            ))
        })?;
        self.set_json(table, key, &json)
    }

    /// Stores JSON text under `key` as it is. The host checks that it is JSON
    /// ([`KvError::InvalidInput`] if not) and at most 1 MiB
    /// ([`KvError::ValueTooLarge`]).
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// ctx.kv.set_json("config", "theme", r#"{"dark": true}"#)?;
    /// # Ok(()) }
    /// ```
    pub fn set_json(&self, table: &str, key: &str, json: &str) -> Result<(), KvError> {
        Ok(wit::set(table, key, json)?)
    }

    /// Removes `key` from `table`. A missing key is [`KvError::NotFound`].
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// ctx.kv.delete("sessions", "sess-abc123")?;
    /// # Ok(()) }
    /// ```
    pub fn delete(&self, table: &str, key: &str) -> Result<(), KvError> {
        Ok(wit::delete(table, key)?)
    }

    /// The tables the running workflow owns or holds a grant on, sorted by name.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// for table in ctx.kv.list_tables()? {
    ///     floww::info!("I can use {table}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_tables(&self) -> Result<Vec<String>, KvError> {
        Ok(wit::list_tables()?)
    }

    /// The keys of `table`, sorted.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// let keys: Vec<String> = ctx.kv.list_keys("users")?;
    /// # Ok(()) }
    /// ```
    pub fn list_keys(&self, table: &str) -> Result<Vec<String>, KvError> {
        Ok(wit::list_keys(table)?)
    }

    /// Every item of `table`, sorted by key, with its value deserialized into `T`
    /// (use [`serde_json::Value`] to take any JSON). One value that is not a `T`
    /// makes the whole call [`KvError::Decode`].
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// let items: Vec<floww::Item<serde_json::Value>> = ctx.kv.list_items("users")?;
    /// for item in &items {
    ///     floww::info!("{} was last written at {}", item.key, item.updated_at);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_items<T: DeserializeOwned>(&self, table: &str) -> Result<Vec<Item<T>>, KvError> {
        wit::list_items(table)?
            .into_iter()
            .map(|item| {
                Ok(Item {
                    value: decode(table, &item.key, &item.value)?,
                    key: item.key,
                    created_at: item.created_at,
                    updated_at: item.updated_at,
                })
            })
            .collect()
    }

    /// Who may use `table`: its owner first, then every grant.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// for p in ctx.kv.list_permissions("announcements")? {
    ///     floww::info!("{}: read={} write={}", p.workflow_id, p.can_read, p.can_write);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_permissions(&self, table: &str) -> Result<Vec<Permission>, KvError> {
        Ok(wit::list_permissions(table)?.into_iter().map(Permission::from).collect())
    }

    /// Gives the deployed workflow `workflow_id` exactly `access` on `table`,
    /// replacing any earlier grant. Only the table's owner may grant; an unknown
    /// workflow id is [`KvError::NotFound`].
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// use floww::Access;
    ///
    /// ctx.kv.grant_permission("announcements", "reader", Access::READ)?;
    /// # Ok(()) }
    /// ```
    pub fn grant_permission(&self, table: &str, workflow_id: &str, access: Access) -> Result<(), KvError> {
        Ok(wit::grant_permission(table, workflow_id, access.read, access.write)?)
    }

    /// Removes the grant of `workflow_id` on `table`. Only the table's owner may
    /// revoke, and the owner's own rights cannot be revoked.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// ctx.kv.revoke_permission("announcements", "reader")?;
    /// # Ok(()) }
    /// ```
    pub fn revoke_permission(&self, table: &str, workflow_id: &str) -> Result<(), KvError> {
        Ok(wit::revoke_permission(table, workflow_id)?)
    }
}

/// Deserializes the JSON text stored under `table`/`key`.
fn decode<T: DeserializeOwned>(table: &str, key: &str, json: &str) -> Result<T, KvError> {
    serde_json::from_str(json).map_err(|err| {
        KvError::Decode(format!(
            "the value of key `{key}` in table `{table}` is not a `{}`: {err}",
            core::any::type_name::<T>()
        ))
    })
}

/// One stored value with its key and timestamps, as [`Kv::list_items`] returns it.
///
/// It serializes with camelCase names (`createdAt`, `updatedAt`), so a handler can
/// return it as JSON as it is.
///
/// ```no_run
/// # fn run(ctx: &floww::Context) -> floww::Result<floww::Response> {
/// let items: Vec<floww::Item<serde_json::Value>> = ctx.kv.list_items("users")?;
/// Ok(floww::Response::json(200, &items))
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item<T> {
    /// The key the value is stored under.
    pub key: String,
    /// The stored value.
    pub value: T,
    /// When the key was first set, in milliseconds since the Unix epoch.
    pub created_at: u64,
    /// When the key was last set, in milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// A workflow's rights on a table, as [`Kv::list_permissions`] returns them.
///
/// It serializes with camelCase names (`workflowId`, `canRead`, …).
///
/// ```no_run
/// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
/// let owner = ctx.kv.list_permissions("announcements")?
///     .into_iter()
///     .find(|p| p.is_owner);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// The workflow these rights belong to.
    pub workflow_id: String,
    /// May it get, list keys, list items and list permissions?
    pub can_read: bool,
    /// May it set and delete?
    pub can_write: bool,
    /// Did it create the table? The owner always reads and writes, and only the
    /// owner grants and revokes.
    pub is_owner: bool,
}

impl From<wit::Permission> for Permission {
    fn from(p: wit::Permission) -> Self {
        Permission { workflow_id: p.workflow_id, can_read: p.can_read, can_write: p.can_write, is_owner: p.is_owner }
    }
}

/// The rights that [`Kv::grant_permission`] gives.
///
/// ```no_run
/// use floww::Access;
///
/// let custom = Access { read: true, write: false };
/// assert_eq!(custom, Access::READ);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Access {
    /// Get, list keys, list items and list permissions.
    pub read: bool,
    /// Set and delete.
    pub write: bool,
}

impl Access {
    /// Read only.
    pub const READ: Access = Access { read: true, write: false };
    /// Write only: the workflow may set and delete but not read back.
    pub const WRITE: Access = Access { read: false, write: true };
    /// Read and write.
    pub const READ_WRITE: Access = Access { read: true, write: true };
}

/// Why a KV call failed. Each case carries a message meant for people.
///
/// [`status_code`](KvError::status_code) gives the matching HTTP status, and `?`
/// in a handler turns a `KvError` into a [`floww::Error`](crate::Error) with that
/// status and message.
///
/// ```no_run
/// # fn run(ctx: &floww::Context) {
/// use floww::KvError;
///
/// match ctx.kv.get::<String>("table", "key") {
///     Ok(value) => floww::info!("found {value}"),
///     Err(KvError::NotFound(_)) => floww::info!("key not found"),
///     Err(KvError::PermissionDenied(msg)) => floww::warn!("not allowed: {msg}"),
///     Err(other) => floww::error!("{} ({})", other, other.status_code()),
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The table or key does not exist (404).
    NotFound(String),
    /// The table exists but the running workflow lacks the right (403).
    PermissionDenied(String),
    /// A bad table name, key, workflow id or value (400).
    InvalidInput(String),
    /// The value is larger than 1 MiB (413).
    ValueTooLarge(String),
    /// The operation conflicts with the current state (409).
    Conflict(String),
    /// The host failed (500).
    Internal(String),
    /// A stored value did not deserialize into the requested type (500). The host
    /// never sends this one: the SDK makes it.
    Decode(String),
}

impl KvError {
    /// The HTTP status matching the error: 404, 403, 400, 413, 409, 500, or 500
    /// for [`Decode`](KvError::Decode).
    ///
    /// ```no_run
    /// let err = floww::KvError::NotFound("no key `a` in table `t`".into());
    /// assert_eq!(err.status_code(), 404);
    /// ```
    pub fn status_code(&self) -> u16 {
        match self {
            KvError::NotFound(_) => 404,
            KvError::PermissionDenied(_) => 403,
            KvError::InvalidInput(_) => 400,
            KvError::ValueTooLarge(_) => 413,
            KvError::Conflict(_) => 409,
            KvError::Internal(_) | KvError::Decode(_) => 500,
        }
    }

    /// The case as a kebab-case word, as the WIT names it: `"not-found"`,
    /// `"permission-denied"`, `"invalid-input"`, `"value-too-large"`,
    /// `"conflict"`, `"internal"`, or `"decode"`.
    ///
    /// ```no_run
    /// let err = floww::KvError::PermissionDenied("no read access".into());
    /// assert_eq!(err.kind(), "permission-denied");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            KvError::NotFound(_) => "not-found",
            KvError::PermissionDenied(_) => "permission-denied",
            KvError::InvalidInput(_) => "invalid-input",
            KvError::ValueTooLarge(_) => "value-too-large",
            KvError::Conflict(_) => "conflict",
            KvError::Internal(_) => "internal",
            KvError::Decode(_) => "decode",
        }
    }

    /// The message, as the host (or, for [`Decode`](KvError::Decode), the SDK)
    /// wrote it.
    ///
    /// ```no_run
    /// let err = floww::KvError::Conflict("already exists".into());
    /// assert_eq!(err.message(), "already exists");
    /// ```
    pub fn message(&self) -> &str {
        match self {
            KvError::NotFound(msg)
            | KvError::PermissionDenied(msg)
            | KvError::InvalidInput(msg)
            | KvError::ValueTooLarge(msg)
            | KvError::Conflict(msg)
            | KvError::Internal(msg)
            | KvError::Decode(msg) => msg,
        }
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for KvError {}

impl From<wit::KvError> for KvError {
    fn from(err: wit::KvError) -> Self {
        match err {
            wit::KvError::NotFound(msg) => KvError::NotFound(msg),
            wit::KvError::PermissionDenied(msg) => KvError::PermissionDenied(msg),
            wit::KvError::InvalidInput(msg) => KvError::InvalidInput(msg),
            wit::KvError::ValueTooLarge(msg) => KvError::ValueTooLarge(msg),
            wit::KvError::Conflict(msg) => KvError::Conflict(msg),
            wit::KvError::Internal(msg) => KvError::Internal(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_case() -> Vec<KvError> {
        vec![
            KvError::NotFound("a".into()),
            KvError::PermissionDenied("b".into()),
            KvError::InvalidInput("c".into()),
            KvError::ValueTooLarge("d".into()),
            KvError::Conflict("e".into()),
            KvError::Internal("f".into()),
            KvError::Decode("g".into()),
        ]
    }

    #[test]
    fn status_codes_follow_the_platform() {
        let codes: Vec<u16> = every_case().iter().map(KvError::status_code).collect();
        assert_eq!(codes, [404, 403, 400, 413, 409, 500, 500]);
    }

    #[test]
    fn kinds_are_the_wit_case_names() {
        let kinds: Vec<&str> = every_case().iter().map(KvError::kind).collect();
        assert_eq!(
            kinds,
            ["not-found", "permission-denied", "invalid-input", "value-too-large", "conflict", "internal", "decode"]
        );
    }

    #[test]
    fn display_is_the_message_alone() {
        let err = KvError::NotFound("no key `user-1` in table `users`".into());
        assert_eq!(err.to_string(), "no key `user-1` in table `users`");
        assert_eq!(err.message(), "no key `user-1` in table `users`");
    }

    #[test]
    fn every_wit_case_maps_to_the_same_case() {
        let cases = [
            (wit::KvError::NotFound("m".into()), "not-found"),
            (wit::KvError::PermissionDenied("m".into()), "permission-denied"),
            (wit::KvError::InvalidInput("m".into()), "invalid-input"),
            (wit::KvError::ValueTooLarge("m".into()), "value-too-large"),
            (wit::KvError::Conflict("m".into()), "conflict"),
            (wit::KvError::Internal("m".into()), "internal"),
        ];
        for (from, kind) in cases {
            let err = KvError::from(from);
            assert_eq!((err.kind(), err.message()), (kind, "m"));
        }
    }

    #[test]
    fn decode_names_the_table_key_and_type() {
        let err = decode::<u64>("counters", "page-views", r#""many""#).unwrap_err();
        assert_eq!(err.kind(), "decode");
        let msg = err.to_string();
        assert!(msg.contains("`page-views`") && msg.contains("`counters`"), "{msg}");
        assert!(msg.contains("u64"), "{msg}");
    }

    #[test]
    fn decode_reads_valid_json() {
        assert_eq!(decode::<Vec<u8>>("t", "k", "[1,2]"), Ok(vec![1, 2]));
    }

    #[test]
    fn item_and_permission_serialize_in_camel_case() {
        let item = Item { key: "k".to_string(), value: 7, created_at: 1, updated_at: 2 };
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            serde_json::json!({"key": "k", "value": 7, "createdAt": 1, "updatedAt": 2})
        );
        let permission =
            Permission { workflow_id: "reader".to_string(), can_read: true, can_write: false, is_owner: false };
        assert_eq!(
            serde_json::to_value(&permission).unwrap(),
            serde_json::json!({
                "workflowId": "reader", "canRead": true, "canWrite": false, "isOwner": false
            })
        );
    }

    #[test]
    fn access_constants() {
        assert_eq!((Access::READ.read, Access::READ.write), (true, false));
        assert_eq!((Access::WRITE.read, Access::WRITE.write), (false, true));
        assert_eq!((Access::READ_WRITE.read, Access::READ_WRITE.write), (true, true));
    }
}
