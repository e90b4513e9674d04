//! The guest-facing `kv` interface: each call runs as the execution's
//! workflow, and a [`KvError`] becomes the WIT `kv-error`.

use std::sync::Arc;

use super::{Access, Item, Kv, KvError, ListOptions, Permission, StorageError, Write, Written};
use crate::bindings::kv as wit;

/// What one execution needs to serve KV calls: the store and who is calling.
pub struct KvCtx {
    pub kv: Arc<Kv>,
    /// Bound by the host when the execution starts; the guest can't change it.
    pub caller: Arc<str>,
}

impl KvCtx {
    /// Wires the `kv` import of every instance in `linker` to `get(state)`.
    pub fn add_to_linker<T: 'static>(
        linker: &mut wasmtime::component::Linker<T>,
        get: fn(&mut T) -> &mut KvCtx,
    ) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, wasmtime::component::HasSelf<KvCtx>>(linker, get)
    }
}

/// The one place a KV error becomes what the guest sees. Internal failures
/// are logged here and reach the guest without their details.
fn to_wit(e: KvError) -> wit::KvError {
    match e {
        KvError::NotFound(m) => wit::KvError::NotFound(m),
        KvError::PermissionDenied(m) => wit::KvError::PermissionDenied(m),
        KvError::InvalidInput(m) => wit::KvError::InvalidInput(m),
        KvError::ValueTooLarge(m) => wit::KvError::ValueTooLarge(m),
        KvError::Conflict(m) => wit::KvError::Conflict(m),
        KvError::Internal(StorageError::Unavailable(why)) => {
            tracing::warn!("KV store unavailable: {why}");
            wit::KvError::Unavailable("the KV store is unavailable; retry later".into())
        }
        KvError::Internal(e) => {
            tracing::error!(error = %e, "KV storage failed");
            wit::KvError::Internal("the KV store failed; the host's log has the details".into())
        }
    }
}

/// Counts a guest's KV call by operation and result, then converts its error.
fn counted<T>(operation: &'static str, result: Result<T, KvError>) -> Result<T, wit::KvError> {
    crate::metrics::global().kv_operation(operation, result.as_ref().map_or_else(KvError::kind, |_| "ok"));
    result.map_err(to_wit)
}

fn wit_item(item: Item) -> wit::Item {
    wit::Item {
        key: item.key,
        value: item.value,
        created_at: item.created_at,
        updated_at: item.updated_at,
        version: item.version,
        expires_at: item.expires_at,
    }
}

fn wit_permission(p: Permission) -> wit::Permission {
    wit::Permission {
        workflow_id: p.workflow_id,
        can_read: p.access.read,
        can_write: p.access.write,
        is_owner: p.is_owner,
    }
}

fn list_options(o: wit::ListOptions) -> ListOptions {
    ListOptions { prefix: o.prefix, limit: o.limit, cursor: o.cursor }
}

/// A guest's write, borrowed as the store takes it.
fn write_of(w: &wit::Write) -> Write<'_> {
    match w {
        wit::Write::Set(o) => Write::Set { table: &o.table, key: &o.key, value: &o.value, ttl_ms: o.ttl_ms },
        wit::Write::SetIf(o) => Write::SetIf {
            table: &o.table,
            key: &o.key,
            value: &o.value,
            expected: o.expected_version,
            ttl_ms: o.ttl_ms,
        },
        wit::Write::Delete(o) => Write::Delete { table: &o.table, key: &o.key },
        wit::Write::Increment(o) => Write::Increment { table: &o.table, key: &o.key, delta: o.delta },
    }
}

fn wit_written(w: Written) -> wit::Written {
    match w {
        Written::Set(version) => wit::Written::Set(version),
        Written::SetIf(version) => wit::Written::SetIf(version),
        Written::Deleted => wit::Written::Deleted,
        Written::Incremented(n) => wit::Written::Incremented(n),
    }
}

impl KvCtx {
    fn one(&self, write: Write<'_>) -> Result<Written, wit::KvError> {
        counted(write.operation(), self.kv.write_one(&self.caller, write))
    }
}

impl wit::Host for KvCtx {
    fn get(&mut self, table: String, key: String) -> Result<String, wit::KvError> {
        counted("get", self.kv.get(&self.caller, &table, &key).map(|item| item.value))
    }

    fn get_item(&mut self, table: String, key: String) -> Result<wit::Item, wit::KvError> {
        counted("get-item", self.kv.get(&self.caller, &table, &key).map(wit_item))
    }

    fn set(&mut self, table: String, key: String, value: String, ttl_ms: Option<u64>) -> Result<u64, wit::KvError> {
        match self.one(Write::Set { table: &table, key: &key, value: &value, ttl_ms })? {
            Written::Set(version) => Ok(version),
            other => unreachable!("a set answered {other:?}"),
        }
    }

    fn set_if(
        &mut self,
        table: String,
        key: String,
        value: String,
        expected: Option<u64>,
        ttl_ms: Option<u64>,
    ) -> Result<u64, wit::KvError> {
        match self.one(Write::SetIf { table: &table, key: &key, value: &value, expected, ttl_ms })? {
            Written::SetIf(version) => Ok(version),
            other => unreachable!("a set-if answered {other:?}"),
        }
    }

    fn increment(&mut self, table: String, key: String, delta: i64) -> Result<i64, wit::KvError> {
        match self.one(Write::Increment { table: &table, key: &key, delta })? {
            Written::Incremented(n) => Ok(n),
            other => unreachable!("an increment answered {other:?}"),
        }
    }

    fn delete(&mut self, table: String, key: String) -> Result<(), wit::KvError> {
        self.one(Write::Delete { table: &table, key: &key }).map(drop)
    }

    fn batch(&mut self, writes: Vec<wit::Write>) -> Result<Vec<wit::Written>, wit::BatchError> {
        let writes: Vec<Write<'_>> = writes.iter().map(write_of).collect();
        match self.kv.write(&self.caller, &writes) {
            Ok(written) => {
                crate::metrics::global().kv_operation("batch", "ok");
                Ok(written.into_iter().map(wit_written).collect())
            }
            Err(e) => {
                crate::metrics::global().kv_operation("batch", e.error.kind());
                Err(wit::BatchError { index: e.index as u32, error: to_wit(e.error) })
            }
        }
    }

    fn list_tables(&mut self) -> Result<Vec<String>, wit::KvError> {
        let tables = counted("list-tables", self.kv.list_tables(&self.caller))?;
        Ok(tables.into_iter().map(|t| t.name).collect())
    }

    fn list_keys(&mut self, table: String, options: wit::ListOptions) -> Result<wit::KeyPage, wit::KvError> {
        let page = counted("list-keys", self.kv.list_keys(&self.caller, &table, &list_options(options)))?;
        Ok(wit::KeyPage { keys: page.entries, cursor: page.cursor })
    }

    fn list_items(&mut self, table: String, options: wit::ListOptions) -> Result<wit::ItemPage, wit::KvError> {
        let page = counted("list-items", self.kv.list_items(&self.caller, &table, &list_options(options)))?;
        Ok(wit::ItemPage { items: page.entries.into_iter().map(wit_item).collect(), cursor: page.cursor })
    }

    fn list_permissions(&mut self, table: String) -> Result<Vec<wit::Permission>, wit::KvError> {
        let perms = counted("list-permissions", self.kv.list_permissions(&self.caller, &table))?;
        Ok(perms.into_iter().map(wit_permission).collect())
    }

    fn grant_permission(
        &mut self,
        table: String,
        workflow_id: String,
        can_read: bool,
        can_write: bool,
    ) -> Result<(), wit::KvError> {
        let access = Access { read: can_read, write: can_write };
        counted("grant-permission", self.kv.grant(&self.caller, &table, &workflow_id, access))
    }

    fn revoke_permission(&mut self, table: String, workflow_id: String) -> Result<(), wit::KvError> {
        counted("revoke-permission", self.kv.revoke(&self.caller, &table, &workflow_id))
    }
}
