//! The guest-facing `kv` interface: each call runs as the execution's
//! workflow, and a [`KvError`] becomes the WIT `kv-error`.

use std::sync::Arc;

use super::{Access, Item, Kv, KvError, Permission};
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
        KvError::Internal(e) => {
            tracing::error!(error = %e, "KV storage failed");
            wit::KvError::Internal("the KV store failed; the host's log has the details".into())
        }
    }
}

fn wit_item(item: Item) -> wit::Item {
    wit::Item { key: item.key, value: item.value, created_at: item.created_at, updated_at: item.updated_at }
}

fn wit_permission(p: Permission) -> wit::Permission {
    wit::Permission {
        workflow_id: p.workflow_id,
        can_read: p.access.read,
        can_write: p.access.write,
        is_owner: p.is_owner,
    }
}

impl wit::Host for KvCtx {
    fn get(&mut self, table: String, key: String) -> Result<String, wit::KvError> {
        self.kv.get(&self.caller, &table, &key).map(|item| item.value).map_err(to_wit)
    }

    fn set(&mut self, table: String, key: String, value: String) -> Result<(), wit::KvError> {
        self.kv.set(&self.caller, &table, &key, &value).map_err(to_wit)
    }

    fn delete(&mut self, table: String, key: String) -> Result<(), wit::KvError> {
        self.kv.delete(&self.caller, &table, &key).map_err(to_wit)
    }

    fn list_tables(&mut self) -> Result<Vec<String>, wit::KvError> {
        let tables = self.kv.list_tables(&self.caller).map_err(to_wit)?;
        Ok(tables.into_iter().map(|t| t.name).collect())
    }

    fn list_keys(&mut self, table: String) -> Result<Vec<String>, wit::KvError> {
        self.kv.list_keys(&self.caller, &table).map_err(to_wit)
    }

    fn list_items(&mut self, table: String) -> Result<Vec<wit::Item>, wit::KvError> {
        let items = self.kv.list_items(&self.caller, &table).map_err(to_wit)?;
        Ok(items.into_iter().map(wit_item).collect())
    }

    fn list_permissions(&mut self, table: String) -> Result<Vec<wit::Permission>, wit::KvError> {
        let perms = self.kv.list_permissions(&self.caller, &table).map_err(to_wit)?;
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
        self.kv.grant(&self.caller, &table, &workflow_id, access).map_err(to_wit)
    }

    fn revoke_permission(&mut self, table: String, workflow_id: String) -> Result<(), wit::KvError> {
        self.kv.revoke(&self.caller, &table, &workflow_id).map_err(to_wit)
    }
}
