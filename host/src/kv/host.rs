//! The guest-facing `kv` interface: each call runs as the execution's
//! workflow, and a [`KvError`] becomes the WIT `kv-error`.

use std::sync::Arc;

use super::{Access, BatchError, Item, Kv, KvError, ListOptions, Permission, Staging, Write, Written};
use crate::bindings::kv as wit;
use crate::storage::StorageError;

/// What one execution needs to serve KV calls: the store and who is calling.
pub struct KvCtx {
    pub kv: Arc<Kv>,
    /// Bound by the host when the execution starts; the guest can't change it.
    pub caller: Arc<str>,
    /// Inside a durable run's step: its staged writes, which every call
    /// reads through and writes to instead of the store.
    pub staging: Option<Staging>,
}

impl KvCtx {
    /// Wires the `kv` import of every instance in `linker` to `get(state)`.
    pub fn add_to_linker<T: Send + 'static>(
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
    /// Runs a read: right here, on the execution's async worker, when it
    /// only reads local pages (microseconds); otherwise as [`Self::waiting`].
    async fn read<R: Send + 'static>(&self, call: impl FnOnce(&Kv, &str) -> R + Send + 'static) -> R {
        if self.kv.reads_wait() { self.waiting(call).await } else { call(&self.kv, &self.caller) }
    }

    /// Runs a call that may wait (a write waits for its flush, a database
    /// call for the network) on the blocking pool, so the worker serves
    /// other requests meanwhile.
    async fn waiting<R: Send + 'static>(&self, call: impl FnOnce(&Kv, &str) -> R + Send + 'static) -> R {
        let (kv, caller) = (self.kv.clone(), self.caller.clone());
        match tokio::task::spawn_blocking(move || call(&kv, &caller)).await {
            Ok(result) => result,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("a KV call was cancelled: {e}"),
            },
        }
    }

    /// Applies `writes` outside a step: here, waiting for their flush without
    /// holding a thread, when the store's writes only touch local pages;
    /// otherwise on the blocking pool.
    async fn write(&self, writes: Vec<wit::Write>) -> Result<Vec<Written>, BatchError> {
        if self.kv.reads_wait() {
            return self
                .waiting(move |kv, caller| kv.write(caller, &writes.iter().map(write_of).collect::<Vec<_>>()))
                .await;
        }
        let (written, durable) =
            self.kv.write_in_place(&self.caller, &writes.iter().map(write_of).collect::<Vec<_>>())?;
        durable.await.map_err(|e| BatchError { index: 0, error: e.into() })?;
        Ok(written)
    }

    /// Whether a step is open: calls go to its staged writes.
    fn in_step(&self) -> bool {
        self.staging.is_some()
    }

    /// Runs `call` on the step's staged writes, off the async workers.
    async fn staged<R: Send + 'static>(
        &mut self,
        call: impl FnOnce(&Kv, &str, &mut Staging) -> R + Send + 'static,
    ) -> R {
        let mut staging = self.staging.take().unwrap_or_default();
        let (kv, caller) = (self.kv.clone(), self.caller.clone());
        let (result, staging) = tokio::task::spawn_blocking(move || {
            let result = call(&kv, &caller, &mut staging);
            (result, staging)
        })
        .await
        .expect("a staged KV call panicked");
        self.staging = Some(staging);
        result
    }

    /// The item under `key`, as the step sees it inside one.
    async fn get_item_of(&mut self, table: String, key: String) -> Result<Item, KvError> {
        if self.in_step() {
            return self.staged(move |kv, caller, st| kv.get_staged(caller, st, &table, &key)).await;
        }
        self.read(move |kv, caller| kv.get(caller, &table, &key)).await
    }

    /// Refuses a call that can't be staged, inside a step.
    fn unstaged(&self, operation: &'static str) -> Result<(), wit::KvError> {
        match self.staging {
            None => Ok(()),
            Some(_) => counted(
                operation,
                Err(KvError::InvalidInput(format!(
                    "{operation} can't be part of a step (its effects can't be staged): call it outside the step"
                ))),
            ),
        }
    }

    async fn one(&mut self, write: wit::Write) -> Result<Written, wit::KvError> {
        let operation = write_of(&write).operation();
        let result = if self.in_step() {
            self.staged(move |kv, caller, st| kv.write_staged(caller, st, &[write_of(&write)])).await
        } else {
            self.write(vec![write]).await
        };
        counted(operation, result.map(|mut written| written.remove(0)).map_err(|e| e.error))
    }
}

impl wit::Host for KvCtx {
    async fn get(&mut self, table: String, key: String) -> Result<String, wit::KvError> {
        counted("get", self.get_item_of(table, key).await.map(|item| item.value))
    }

    async fn get_item(&mut self, table: String, key: String) -> Result<wit::Item, wit::KvError> {
        counted("get-item", self.get_item_of(table, key).await.map(wit_item))
    }

    async fn set(
        &mut self,
        table: String,
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    ) -> Result<u64, wit::KvError> {
        match self.one(wit::Write::Set(wit::SetOp { table, key, value, ttl_ms })).await? {
            Written::Set(version) => Ok(version),
            other => unreachable!("a set answered {other:?}"),
        }
    }

    async fn set_if(
        &mut self,
        table: String,
        key: String,
        value: String,
        expected_version: Option<u64>,
        ttl_ms: Option<u64>,
    ) -> Result<u64, wit::KvError> {
        match self.one(wit::Write::SetIf(wit::SetIfOp { table, key, value, expected_version, ttl_ms })).await? {
            Written::SetIf(version) => Ok(version),
            other => unreachable!("a set-if answered {other:?}"),
        }
    }

    async fn increment(&mut self, table: String, key: String, delta: i64) -> Result<i64, wit::KvError> {
        match self.one(wit::Write::Increment(wit::IncrementOp { table, key, delta })).await? {
            Written::Incremented(n) => Ok(n),
            other => unreachable!("an increment answered {other:?}"),
        }
    }

    async fn delete(&mut self, table: String, key: String) -> Result<(), wit::KvError> {
        self.one(wit::Write::Delete(wit::KeyRef { table, key })).await.map(drop)
    }

    async fn batch(&mut self, writes: Vec<wit::Write>) -> Result<Vec<wit::Written>, wit::BatchError> {
        let result = if self.in_step() {
            self.staged(move |kv, caller, st| {
                kv.write_staged(caller, st, &writes.iter().map(write_of).collect::<Vec<_>>())
            })
            .await
        } else {
            self.write(writes).await
        };
        match result {
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

    async fn list_tables(&mut self) -> Result<Vec<String>, wit::KvError> {
        let tables = if self.in_step() {
            self.staged(|kv, caller, st| kv.list_tables_staged(caller, st)).await
        } else {
            self.read(|kv, caller| kv.list_tables(caller)).await.map(|t| t.into_iter().map(|t| t.name).collect())
        };
        counted("list-tables", tables)
    }

    async fn list_keys(&mut self, table: String, options: wit::ListOptions) -> Result<wit::KeyPage, wit::KvError> {
        let options = list_options(options);
        let page = if self.in_step() {
            self.staged(move |kv, caller, st| kv.list_keys_staged(caller, st, &table, &options)).await
        } else {
            self.read(move |kv, caller| kv.list_keys(caller, &table, &options)).await
        };
        let page = counted("list-keys", page)?;
        Ok(wit::KeyPage { keys: page.entries, cursor: page.cursor })
    }

    async fn list_items(&mut self, table: String, options: wit::ListOptions) -> Result<wit::ItemPage, wit::KvError> {
        let options = list_options(options);
        let page = if self.in_step() {
            self.staged(move |kv, caller, st| kv.list_items_staged(caller, st, &table, &options)).await
        } else {
            self.read(move |kv, caller| kv.list_items(caller, &table, &options)).await
        };
        let page = counted("list-items", page)?;
        Ok(wit::ItemPage { items: page.entries.into_iter().map(wit_item).collect(), cursor: page.cursor })
    }

    async fn list_permissions(&mut self, table: String) -> Result<Vec<wit::Permission>, wit::KvError> {
        let perms =
            counted("list-permissions", self.read(move |kv, caller| kv.list_permissions(caller, &table)).await)?;
        Ok(perms.into_iter().map(wit_permission).collect())
    }

    async fn grant_permission(
        &mut self,
        table: String,
        workflow_id: String,
        can_read: bool,
        can_write: bool,
    ) -> Result<(), wit::KvError> {
        self.unstaged("grant-permission")?;
        let access = Access { read: can_read, write: can_write };
        let granted = self.waiting(move |kv, caller| kv.grant(caller, &table, &workflow_id, access)).await;
        counted("grant-permission", granted)
    }

    async fn revoke_permission(&mut self, table: String, workflow_id: String) -> Result<(), wit::KvError> {
        self.unstaged("revoke-permission")?;
        counted("revoke-permission", self.waiting(move |kv, caller| kv.revoke(caller, &table, &workflow_id)).await)
    }

    async fn drop_table(&mut self, table: String) -> Result<(), wit::KvError> {
        self.unstaged("drop-table")?;
        counted("drop-table", self.waiting(move |kv, caller| kv.drop_table(caller, &table)).await)
    }
}
