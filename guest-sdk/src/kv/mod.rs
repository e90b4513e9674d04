//! The key-value store, as the running workflow sees it.
//!
//! Data lives in **tables** (namespaces) of **keys**, each holding one JSON value.
//! The first successful write to a table creates it and makes the running
//! workflow its **owner**; the owner can [grant](Kv::grant_permission) other
//! workflows read and/or write access. Every call acts as the running workflow:
//! the host knows who that is, so no function takes an identity.
//!
//! This module wraps the generated `floww:workflow/kv` bindings; it converts
//! between them and the types below and does the JSON (de)serialization. It knows
//! nothing about HTTP. [`KvError`] lives in `error.rs`, listing in `list.rs`, and
//! writes as values (conditions, batches) in `write.rs`; every [`Kv`] method is
//! here, so the whole API reads in one place.

mod error;
mod list;
mod write;

use core::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use error::KvError;
pub use list::{ListOptions, Page};
pub use write::{BatchError, Expected, Write, Written};

use crate::wit::floww::workflow::kv as wit;
use list::Paged;

/// A handle to the key-value store, reached through [`Context::kv`](crate::Context::kv).
///
/// Values cross into the host as JSON text: [`get`](Kv::get) and [`set`](Kv::set)
/// convert through serde, [`get_json`](Kv::get_json) and [`set_json`](Kv::set_json)
/// pass the text as it is.
///
/// Tables are named `[A-Za-z0-9_-]{1,255}`, keys `[A-Za-z0-9_.:@-]{1,255}`, and a
/// value is at most 1 MiB of JSON; the host answers anything else with
/// [`KvError::InvalidInput`] or [`KvError::ValueTooLarge`].
///
/// # Concurrent requests
///
/// Every call is atomic, but two calls are not: executions run side by side, so
/// a [`get`](Kv::get) followed by a [`set`](Kv::set) can overwrite what another
/// execution wrote in between, and that update is lost. To change a value
/// safely:
///
/// - [`increment`](Kv::increment) adds to a counter in one step;
/// - [`set_if`](Kv::set_if) writes only if the item still has the
///   [version](Item::version) you read (or, with [`Expected::Absent`], only if it
///   doesn't exist yet); on [`KvError::Conflict`], read again and retry;
/// - [`batch`](Kv::batch) applies several writes, all or none.
///
/// # Expiry
///
/// [`set_with_ttl`](Kv::set_with_ttl) (or [`Write::with_ttl`]) stores an item
/// that disappears after the time-to-live: from then on it is not found and not
/// listed. A later write without a TTL keeps it for good; an
/// [`increment`](Kv::increment) keeps its expiry.
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

    /// Reads the item under `key`: its value deserialized into `T`, with its
    /// [version](Item::version), times and expiry. Errors as for [`get`](Kv::get).
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// let item: floww::Item<u64> = ctx.kv.get_item("stock", "apples")?;
    /// floww::info!("{} apples as of version {}", item.value, item.version);
    /// if let Some(at) = item.expires_at {
    ///     floww::info!("gone at {at}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get_item<T: DeserializeOwned>(&self, table: &str, key: &str) -> Result<Item<T>, KvError> {
        item(table, wit::get_item(table, key)?)
    }

    /// Serializes `value` to JSON and stores it under `key`, replacing what was
    /// there (and any expiry it had). The first write to a table creates the
    /// table, owned by the running workflow.
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
        self.set_json(table, key, &encode(table, key, value)?)
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
        wit::set(table, key, json, None)?;
        Ok(())
    }

    /// Like [`set`](Kv::set), but the item disappears `ttl` after this write, and
    /// the call returns the item's new [version](Item::version).
    ///
    /// The TTL is rounded down to whole milliseconds and must come to between
    /// 1 ms and ten years; the host answers anything else with
    /// [`KvError::InvalidInput`]. For JSON text, or a TTL on a conditional write,
    /// use [`Write::with_ttl`] with [`apply`](Kv::apply).
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// use std::time::Duration;
    ///
    /// let version = ctx.kv.set_with_ttl("cache", "report", &vec![1, 2, 3], Duration::from_secs(5 * 60))?;
    /// # Ok(()) }
    /// ```
    pub fn set_with_ttl<T: Serialize + ?Sized>(
        &self,
        table: &str,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<u64, KvError> {
        Ok(wit::set(table, key, &encode(table, key, value)?, Some(crate::millis(ttl)))?)
    }

    /// Stores `value` only if the item is as `expected`, and returns its new
    /// [version](Item::version). Otherwise nothing changes and the answer is
    /// [`KvError::Conflict`]: the item has another version, exists when
    /// [`Expected::Absent`] was expected, or is missing when a version was.
    /// Like [`set`](Kv::set), it clears any expiry.
    ///
    /// This is how to change a value without losing a concurrent update: read
    /// it with [`get_item`](Kv::get_item), compute, write it back only if it is
    /// still the version you read, and retry on a conflict.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// use floww::{Expected, KvError};
    ///
    /// // Append a tag to a list that other executions append to as well.
    /// loop {
    ///     let (mut tags, expected) = match ctx.kv.get_item::<Vec<String>>("posts", "post-1:tags") {
    ///         Ok(item) => (item.value, Expected::Version(item.version)),
    ///         Err(KvError::NotFound(_)) => (Vec::new(), Expected::Absent),
    ///         Err(err) => return Err(err),
    ///     };
    ///     tags.push("rust".to_string());
    ///     match ctx.kv.set_if("posts", "post-1:tags", &tags, expected) {
    ///         Ok(_version) => break,
    ///         Err(KvError::Conflict(_)) => continue, // someone wrote in between: read again
    ///         Err(err) => return Err(err),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn set_if<T: Serialize + ?Sized>(
        &self,
        table: &str,
        key: &str,
        value: &T,
        expected: Expected,
    ) -> Result<u64, KvError> {
        Ok(wit::set_if(table, key, &encode(table, key, value)?, expected.version(), None)?)
    }

    /// Adds `delta` (which may be negative) to the integer stored under `key` and
    /// returns the sum, in one atomic step: concurrent increments never lose a
    /// count. A missing key counts as 0; the item keeps its expiry, if any.
    ///
    /// A stored value that is not a JSON integer, or a sum beyond `i64`, is
    /// [`KvError::Conflict`].
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// let views = ctx.kv.increment("counters", "page-views", 1)?;
    /// floww::info!("view number {views}");
    /// # Ok(()) }
    /// ```
    pub fn increment(&self, table: &str, key: &str, delta: i64) -> Result<i64, KvError> {
        Ok(wit::increment(table, key, delta)?)
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

    /// Runs one [`Write`] on its own, as the matching method ([`set_json`](Kv::set_json),
    /// [`set_if`](Kv::set_if), [`delete`](Kv::delete), [`increment`](Kv::increment))
    /// would, and says what it did. This is the way to combine what those methods
    /// don't: JSON text with a TTL, or a conditional write with a TTL.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// use std::time::Duration;
    /// use floww::{Expected, Write, Written};
    ///
    /// // Take a lock for 30 seconds, unless someone holds it.
    /// let lock = Write::set_if_json("locks", "report", r#""worker-1""#, Expected::Absent)
    ///     .with_ttl(Duration::from_secs(30));
    /// if let Written::SetIf(version) = ctx.kv.apply(&lock)? {
    ///     floww::info!("locked as version {version}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn apply(&self, write: &Write) -> Result<Written, KvError> {
        write.apply()
    }

    /// Applies `writes` in order, all or none, and says what each did. If one
    /// fails, nothing changed and the [`BatchError`] gives the index of that write
    /// (from 0) and its error. A write may see the effect of the writes before it
    /// in the batch, so a batch can create an item and then increment it.
    ///
    /// Each write needs the right it would need alone; a write to a table that
    /// doesn't exist creates it, owned by the running workflow. A batch holds at
    /// most 1,000 writes; a longer one is [`KvError::InvalidInput`] with index
    /// 1000, and changes nothing.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> floww::Result<()> {
    /// use floww::Write;
    ///
    /// // Move a session to another user: both keys change, or neither does.
    /// let session = serde_json::json!({"userId": "user-456"});
    /// ctx.kv.batch(&[
    ///     Write::delete("sessions-by-user", "user-123"),
    ///     Write::set("sessions-by-user", "user-456", &"sess-abc123")?,
    ///     Write::set("sessions", "sess-abc123", &session)?,
    /// ])?; // a BatchError becomes its write's status, e.g. 404 if user-123 had no session
    /// # Ok(()) }
    /// ```
    pub fn batch(&self, writes: &[Write]) -> Result<Vec<Written>, BatchError> {
        let writes: Vec<wit::Write> = writes.iter().map(wit::Write::from).collect();
        Ok(wit::batch(&writes)?.into_iter().map(Written::from).collect())
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

    /// Every key of `table`, sorted, fetched page by page. For a large table,
    /// [`keys`](Kv::keys) walks the same keys without holding them all, and
    /// [`list_keys_page`](Kv::list_keys_page) returns one page.
    ///
    /// Each page is read at its own moment, so keys written while the listing
    /// runs may or may not appear.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// let keys: Vec<String> = ctx.kv.list_keys("users")?;
    /// # Ok(()) }
    /// ```
    pub fn list_keys(&self, table: &str) -> Result<Vec<String>, KvError> {
        self.keys(table, "").collect()
    }

    /// One page of `table`'s keys, sorted: those after `options.cursor` that start
    /// with `options.prefix`, at most `options.limit` of them.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// use floww::ListOptions;
    ///
    /// let page = ctx.kv.list_keys_page("users", &ListOptions::new().prefix("user-").limit(10))?;
    /// floww::info!("first keys: {:?}; more follow: {}", page.entries, page.cursor.is_some());
    /// # Ok(()) }
    /// ```
    pub fn list_keys_page(&self, table: &str, options: &ListOptions) -> Result<Page<String>, KvError> {
        Ok(wit::list_keys(table, &options.into())?.into())
    }

    /// The keys of `table` that start with `prefix` (`""`: every key), sorted,
    /// fetching the next page when one runs out. A failed fetch is the last
    /// element.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// for key in ctx.kv.keys("sessions", "user-123:") {
    ///     ctx.kv.delete("sessions", &key?)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn keys(&self, table: &str, prefix: &str) -> impl Iterator<Item = Result<String, KvError>> + use<> {
        let table = table.to_owned();
        Paged::new(prefix_options(prefix), move |options| Ok(wit::list_keys(&table, &options.into())?.into()))
    }

    /// Every item of `table`, sorted by key, with its value deserialized into `T`
    /// (use [`serde_json::Value`] to take any JSON), fetched page by page. One
    /// value that is not a `T` makes the whole call [`KvError::Decode`]. For a
    /// large table, see [`items`](Kv::items) and
    /// [`list_items_page`](Kv::list_items_page).
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
        self.items(table, "").collect()
    }

    /// One page of `table`'s items, sorted by key, chosen as for
    /// [`list_keys_page`](Kv::list_keys_page). One value that is not a `T` makes
    /// the whole call [`KvError::Decode`].
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context, cursor: Option<String>) -> floww::Result<floww::Response> {
    /// use floww::{Item, ListOptions};
    /// use serde_json::{Value, json};
    ///
    /// let options = ListOptions { limit: Some(10), cursor, ..ListOptions::default() };
    /// let page = ctx.kv.list_items_page::<Value>("users", &options)?;
    /// let users: Vec<Value> = page.entries.into_iter().map(|item| item.value).collect();
    /// Ok(floww::Response::json(200, &json!({ "users": users, "nextCursor": page.cursor })))
    /// # }
    /// ```
    pub fn list_items_page<T: DeserializeOwned>(
        &self,
        table: &str,
        options: &ListOptions,
    ) -> Result<Page<Item<T>>, KvError> {
        let page = wit::list_items(table, &options.into())?;
        let entries = page.items.into_iter().map(|raw| item(table, raw)).collect::<Result<_, _>>()?;
        Ok(Page { entries, cursor: page.cursor })
    }

    /// The items of `table` whose keys start with `prefix` (`""`: every item),
    /// sorted by key, fetching the next page when one runs out. A value that is
    /// not a `T` is a [`KvError::Decode`] for that item, and the walk goes on; a
    /// failed fetch is the last element.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// let mut total = 0;
    /// for item in ctx.kv.items::<u64>("orders", "2024-") {
    ///     total += item?.value;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn items<T: DeserializeOwned>(
        &self,
        table: &str,
        prefix: &str,
    ) -> impl Iterator<Item = Result<Item<T>, KvError>> + use<T> {
        let table = table.to_owned();
        let fetch_table = table.clone();
        Paged::new(prefix_options(prefix), move |options| Ok(wit::list_items(&fetch_table, &options.into())?.into()))
            .map(move |raw| item(&table, raw?))
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

    /// Removes a table this workflow owns, with every item and grant in it.
    /// Its name is free again afterwards: the next write to it creates a new,
    /// empty table. Only the owner may drop a table
    /// ([`KvError::PermissionDenied`] for others); a missing table is
    /// [`KvError::NotFound`].
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// ctx.kv.drop_table("scratch")?;
    /// # Ok(()) }
    /// ```
    pub fn drop_table(&self, table: &str) -> Result<(), KvError> {
        Ok(wit::drop_table(table)?)
    }
}

/// Serializes a value for `table`/`key`; a value serde can't serialize is
/// [`KvError::InvalidInput`].
fn encode<T: Serialize + ?Sized>(table: &str, key: &str, value: &T) -> Result<String, KvError> {
    serde_json::to_string(value).map_err(|err| {
        KvError::InvalidInput(format!(
            "the value for key `{key}` in table `{table}` cannot be serialized to JSON: {err}"
        ))
    })
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

/// A WIT item of `table`, with its value deserialized.
fn item<T: DeserializeOwned>(table: &str, item: wit::Item) -> Result<Item<T>, KvError> {
    Ok(Item {
        value: decode(table, &item.key, &item.value)?,
        key: item.key,
        created_at: item.created_at,
        updated_at: item.updated_at,
        version: item.version,
        expires_at: item.expires_at,
    })
}

/// Options for a walk over the keys that start with `prefix`; `""` is all of them.
fn prefix_options(prefix: &str) -> ListOptions {
    if prefix.is_empty() { ListOptions::new() } else { ListOptions::new().prefix(prefix) }
}

/// One stored value with its key and metadata, as [`Kv::get_item`] and
/// [`Kv::list_items`] return it.
///
/// It serializes with camelCase names (`createdAt`, `updatedAt`, `version`,
/// `expiresAt`), so a handler can return it as JSON as it is.
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
    /// Changes on every write of the item and is never reused, even after a
    /// delete: give it to [`Expected::Version`] to write only if nothing else
    /// has. (JSON from before versions existed reads as 0.)
    #[serde(default)]
    pub version: u64,
    /// When the item disappears, in milliseconds since the Unix epoch, if it was
    /// written with a time-to-live; `None` keeps it until it is deleted.
    pub expires_at: Option<u64>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn encode_writes_json_or_says_why_not() {
        assert_eq!(encode("t", "k", &serde_json::json!({"a": [1]})), Ok(r#"{"a":[1]}"#.to_string()));
        let unserializable: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = encode("t", "k", &unserializable).unwrap_err();
        assert_eq!(err.kind(), "invalid-input");
        assert!(err.message().starts_with("the value for key `k` in table `t` cannot be serialized"), "{err}");
    }

    fn wit_item(value: &str, expires_at: Option<u64>) -> wit::Item {
        wit::Item { key: "k".into(), value: value.into(), created_at: 1, updated_at: 2, version: 9, expires_at }
    }

    #[test]
    fn items_convert_with_version_and_expiry() {
        let converted: Item<i64> = item("t", wit_item("7", Some(5))).unwrap();
        assert_eq!(
            converted,
            Item { key: "k".into(), value: 7, created_at: 1, updated_at: 2, version: 9, expires_at: Some(5) }
        );
        let err = item::<i64>("t", wit_item(r#""seven""#, None)).unwrap_err();
        assert_eq!(err.kind(), "decode");
        assert!(err.message().contains("key `k` in table `t`"), "{err}");
    }

    #[test]
    fn prefix_options_treat_empty_as_everything() {
        assert_eq!(prefix_options(""), ListOptions::default());
        assert_eq!(prefix_options("a:").prefix.as_deref(), Some("a:"));
    }

    #[test]
    fn item_and_permission_serialize_in_camel_case() {
        let item = Item { key: "k".to_string(), value: 7, created_at: 1, updated_at: 2, version: 3, expires_at: None };
        let json = serde_json::to_value(&item).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "key": "k", "value": 7, "createdAt": 1, "updatedAt": 2, "version": 3, "expiresAt": null
            })
        );
        assert_eq!(serde_json::from_value::<Item<i32>>(json).unwrap(), item);
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
    fn items_serialized_before_versions_still_read() {
        let old = serde_json::json!({"key": "k", "value": 7, "createdAt": 1, "updatedAt": 2});
        let item: Item<i32> = serde_json::from_value(old).unwrap();
        assert_eq!((item.version, item.expires_at), (0, None));
    }

    #[test]
    fn access_constants() {
        assert_eq!((Access::READ.read, Access::READ.write), (true, false));
        assert_eq!((Access::WRITE.read, Access::WRITE.write), (false, true));
        assert_eq!((Access::READ_WRITE.read, Access::READ_WRITE.write), (true, true));
    }
}
