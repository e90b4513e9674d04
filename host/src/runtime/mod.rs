//! The wasm runtime: one wasmtime `Engine`, a `Linker` that offers guests WASI
//! (clocks and random only: no files, env or sockets) plus our `kv` and `log`
//! imports, and one fresh `Store` and instance per execution, so nothing
//! leaks between executions. It knows nothing of HTTP or of the registry.
//!
//! Executions are async: each runs on a fiber of its own, on whichever
//! async worker polls it, and yields every epoch tick, so a guest that
//! loops can't hold a worker. `triggers`, called at deploy from blocking
//! code, blocks instead.
//!
//! Per-execution cost is kept low by doing everything that can be done once
//! up front: linking (`InstancePre`), sizing an instance pool (`pool`), and
//! mapping each component's copy-on-write memory image. What remains per
//! execution is a store, a WASI context, taking a pool slot and the call.

mod admission;
mod code;
mod limiter;
mod log;
mod pool;

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use self::admission::{Admission, Busy};
use self::code::{CodeCache, CodeKey};
use self::limiter::ExecutionLimits;
use self::log::GuestLog;
pub use self::log::LogLine;
use self::pool::{DEPLOY_SLOTS, Slots};
use crate::bindings::{CronEvent, Request, Response, Trigger, WorkflowPre};
use crate::kv::{Kv, KvCtx};

/// How often the epoch advances: the granularity of execution deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Per-store caps beyond memory: a component built by Rust needs a handful of
/// core instances, tables and memories, and tables of a few thousand entries.
const MAX_INSTANCES: usize = 64;
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Sandbox limits for every execution.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock time an execution may run before it is stopped.
    pub timeout: Duration,
    /// Linear memory an execution may hold, in bytes.
    pub memory_bytes: usize,
    /// Webhook executions that may run at once: the instance pool holds this
    /// many (plus a few for deploys), and more wait for one to finish.
    pub concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(30), memory_bytes: 128 << 20, concurrency: 32 }
    }
}

/// What an execution produced, with the lines the guest logged on the way.
pub struct Execution<T> {
    pub result: Result<T, ExecError>,
    pub logs: Vec<LogLine>,
}

/// Why an execution did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("the execution ran past its {0:?} deadline")]
    Timeout(Duration),
    #[error("the workflow trapped: {0:#}")]
    Trap(wasmtime::Error),
}

/// A compiled and linked workflow, ready to be instantiated per execution.
/// Workflows made from the same component share its code.
pub struct Workflow {
    code: Arc<Code>,
}

struct Code {
    component: Component,
    pre: WorkflowPre<ExecutionState>,
}

impl Workflow {
    /// The compiled code, for [`Runtime::load_compiled`] to read back.
    pub fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        self.code.component.serialize()
    }
}

/// What a store holds for one execution.
pub struct ExecutionState {
    wasi: WasiCtx,
    table: ResourceTable,
    kv: KvCtx,
    log: GuestLog,
    limits: ExecutionLimits,
}

impl WasiView for ExecutionState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<ExecutionState>,
    kv: Arc<Kv>,
    limits: Limits,
    /// Code compiled or loaded before and still in use.
    code: CodeCache<Code>,
    /// Instance slots of the pool, for webhooks and for deploys.
    webhook_slots: Slots,
    deploy_slots: Slots,
}

impl Runtime {
    pub fn new(kv: Arc<Kv>, limits: Limits) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.allocation_strategy(pool::allocation_strategy(&limits));
        let engine = Engine::new(&config)?;

        let mut linker: Linker<ExecutionState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        KvCtx::add_to_linker(&mut linker, |s| &mut s.kv)?;
        GuestLog::add_to_linker(&mut linker, |s| &mut s.log)?;

        spawn_epoch_ticker(&engine);
        let (webhook_slots, deploy_slots) = (Slots::new(limits.concurrency.max(1)), Slots::new(DEPLOY_SLOTS));
        Ok(Self { engine, linker, kv, limits, code: CodeCache::default(), webhook_slots, deploy_slots })
    }

    /// Compiles a component and links it against the host's imports; a
    /// component already compiled for another workflow is reused.
    pub fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Workflow> {
        let code =
            self.code.get_or_make(CodeKey::of_bytes(bytes), || self.link(Component::new(&self.engine, bytes)?))?;
        Ok(Workflow { code })
    }

    /// Loads code that [`Workflow::serialize`] wrote with an engine of the
    /// same [fingerprint](Self::engine_fingerprint).
    /// A file already loaded for another workflow is reused.
    pub fn load_compiled(&self, path: &Path) -> wasmtime::Result<Workflow> {
        let code = self.code.get_or_make(CodeKey::of_file(path)?, || {
            #[expect(unsafe_code, reason = "the file is the host's own cache in its data dir, written by `serialize`")]
            // SAFETY: wasmtime requires trusted input here: only the host writes
            // the cache, and wasmtime itself refuses code from another engine.
            let component = unsafe { Component::deserialize_file(&self.engine, path)? };
            self.link(component)
        })?;
        Ok(Workflow { code })
    }

    /// Names the engine's compiled-code format: cached code from another one is not reused.
    pub fn engine_fingerprint(&self) -> String {
        let mut hasher = std::hash::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    fn link(&self, component: Component) -> wasmtime::Result<Code> {
        let pre = WorkflowPre::new(self.linker.instantiate_pre(&component)?)?;
        Ok(Code { component, pre })
    }

    /// Asks a workflow for the triggers it declares. Blocking: it is called
    /// where deploys run, on blocking threads.
    pub fn triggers(
        &self,
        workflow: &Workflow,
        workflow_id: &str,
        timeout: Option<Duration>,
    ) -> Result<Vec<Trigger>, ExecError> {
        let execution =
            self.execute(&self.deploy_slots, workflow, workflow_id, "deploy", timeout, async |instance, store| {
                instance.floww_workflow_handler().call_triggers(store).await
            });
        wasmtime_wasi::runtime::in_tokio(execution).result
    }

    /// Runs one webhook request through a fresh instance of `workflow`.
    pub async fn handle_webhook(
        &self,
        workflow: &Workflow,
        workflow_id: &str,
        execution_id: &str,
        timeout: Option<Duration>,
        request: &Request,
    ) -> Execution<Response> {
        self.execute(&self.webhook_slots, workflow, workflow_id, execution_id, timeout, async |instance, store| {
            instance.floww_workflow_handler().call_handle_webhook(store, request).await
        })
        .await
    }

    /// Runs one tick of a cron trigger through a fresh instance of `workflow`;
    /// `Err` is the guest's own error message.
    pub async fn handle_cron(
        &self,
        workflow: &Workflow,
        workflow_id: &str,
        execution_id: &str,
        timeout: Option<Duration>,
        event: &CronEvent,
    ) -> Execution<Result<(), String>> {
        self.execute(&self.webhook_slots, workflow, workflow_id, execution_id, timeout, async |instance, store| {
            instance.floww_workflow_handler().call_handle_cron(store, event).await
        })
        .await
    }

    /// Runs manual trigger `name` with `input` (JSON text) through a fresh
    /// instance of `workflow`: the output as JSON text, or the guest's own
    /// error message.
    pub async fn handle_manual(
        &self,
        workflow: &Workflow,
        workflow_id: &str,
        execution_id: &str,
        timeout: Option<Duration>,
        name: &str,
        input: &str,
    ) -> Execution<Result<String, String>> {
        self.execute(&self.webhook_slots, workflow, workflow_id, execution_id, timeout, async |instance, store| {
            instance.floww_workflow_handler().call_handle_manual(store, name, input).await
        })
        .await
    }

    async fn execute<R>(
        &self,
        slots: &Slots,
        workflow: &Workflow,
        workflow_id: &str,
        execution_id: &str,
        timeout: Option<Duration>,
        call: impl AsyncFnOnce(&crate::bindings::Workflow, &mut Store<ExecutionState>) -> wasmtime::Result<R>,
    ) -> Execution<R> {
        let caller: Arc<str> = workflow_id.into();
        let state = ExecutionState {
            wasi: WasiCtx::builder().allow_tcp(false).allow_udp(false).build(),
            table: ResourceTable::new(),
            kv: KvCtx { kv: self.kv.clone(), caller: caller.clone() },
            log: GuestLog::new(caller, execution_id),
            // Each memory and table is capped, and all memories together too.
            limits: ExecutionLimits::new(
                StoreLimitsBuilder::new()
                    .memory_size(self.limits.memory_bytes)
                    .table_elements(MAX_TABLE_ELEMENTS)
                    .instances(MAX_INSTANCES)
                    .tables(MAX_INSTANCES)
                    .memories(MAX_INSTANCES)
                    .build(),
                self.limits.memory_bytes,
            ),
        };
        // Dropped after the store, which gives its instance back to the pool.
        let _slot = slots.take().await;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let timeout = timeout.unwrap_or(self.limits.timeout);
        // At every tick the guest yields to the other tasks of its worker;
        // at the deadline it is stopped.
        let mut ticks_left = deadline_ticks(timeout);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            ticks_left -= 1;
            if ticks_left == 0 { Err(Trap::Interrupt.into()) } else { Ok(UpdateDeadline::Yield(1)) }
        });

        let result = match workflow.code.pre.instantiate_async(&mut store).await {
            Ok(instance) => call(&instance, &mut store).await,
            Err(e) => Err(e),
        };
        let result = result.map_err(|e| match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => ExecError::Timeout(timeout),
            _ => ExecError::Trap(e),
        });
        Execution { result, logs: store.into_data().log.into_lines() }
    }
}

fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

/// Advances the engine's epoch until the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("floww-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch thread");
}
