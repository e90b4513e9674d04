//! The wasm runtime: one wasmtime `Engine`, a `Linker` that offers guests WASI
//! (clocks and random only: no files, env or sockets), `wasi:http` outgoing
//! requests (sent by `egress`, under the workflow's allowlist) plus our `kv`
//! and `log` imports, and one fresh `Store` and instance per execution, so nothing
//! leaks between executions, unless the workflow opts in to instance reuse
//! (`warm`). It knows nothing of HTTP, of triggers or of the registry: its
//! caller says which [`Export`] to call, for which workflow.
//!
//! Executions are async: each runs on a fiber of its own, on whichever
//! async worker polls it, and yields every epoch tick, so a guest that
//! loops can't hold a worker. `triggers`, called at deploy from blocking
//! code, blocks instead, and sees a KV store that refuses every call.
//!
//! The runtime owns the code cache (`code`): compiled components in memory
//! while in use and on disk across restarts, by their SHA-256.
//!
//! Per-execution cost is kept low by doing everything that can be done once
//! up front: linking (`InstancePre`), sizing an instance pool (`pool`), and
//! mapping each component's copy-on-write memory image. What remains per
//! execution is a store, a WASI context, taking a pool slot and the call.

mod code;
mod limiter;
mod log;
mod pool;
mod steps;
mod warm;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Instance, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use self::code::CodeCache;
use self::limiter::ExecutionLimits;
use self::log::GuestLog;
pub use self::log::{LogLine, MAX_TEXT_BYTES, cut};
use self::pool::{DEPLOY_SLOTS, Slots};
pub use self::warm::IDLE_TIMEOUT;
use self::warm::{WarmInstances, WarmPool};
use crate::bindings::{CronEvent, Handler, Request, Response, Trigger, WorkflowExports, WorkflowIndices};
use crate::egress::{Allowlist, Egress, HttpCall};
use crate::kv::{Kv, KvCtx};
use crate::runs::{Invocation, Runs, RunsCtx};
use crate::secrets::{SecretValues, Secrets, SecretsCtx};

/// How often the epoch advances: how often running wasm yields its worker
/// and checks its deadline.
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
    /// Executions that may run at once: the instance pool holds this many
    /// (plus a few for deploys), and more wait for one to finish.
    pub concurrency: usize,
    /// Guests may reach addresses that are not public (loopback, private,
    /// link-local…) through any allowlist entry, not only one naming them.
    pub private_egress: bool,
    /// Executions an instance serves before it is dropped, for workflows
    /// deployed without a choice of their own: 1 is a fresh instance each.
    pub instance_reuse: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_bytes: 128 << 20,
            concurrency: 32,
            private_egress: false,
            instance_reuse: 1,
        }
    }
}

/// What an execution produced, with the lines the guest logged and the
/// HTTP requests it made on the way, and the secrets it could read (to
/// redact what is kept of it).
pub struct Execution<T> {
    pub result: Result<T, ExecError>,
    /// The run it invoked, as the invocation left it.
    pub run: Option<Invocation>,
    pub logs: Vec<LogLine>,
    pub http: Vec<HttpCall>,
    pub secrets: Arc<SecretValues>,
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
/// Workflows made from the same component share its code; each has its own
/// warm instances.
pub struct Workflow {
    code: Arc<Code>,
    warm: Arc<WarmPool<WarmInstance>>,
}

/// An instance waiting for its workflow's next execution, in its store.
struct WarmInstance {
    store: Store<ExecutionState>,
    instance: Instance,
    exports: WorkflowExports,
}

struct Code {
    sha256: String,
    pre: InstancePre<ExecutionState>,
    /// Where the `handler` exports are, found once.
    indices: WorkflowIndices,
}

impl Workflow {
    /// The hex SHA-256 of the component it was made from.
    pub fn sha256(&self) -> &str {
        &self.code.sha256
    }
}

/// A call into one of a workflow's exports: what it sends, and what comes
/// back. `instance` is there for exports outside the `handler` interface.
pub trait Export: Send + Sync {
    type Output: Send;
    fn call(
        &self,
        instance: &Instance,
        handler: &Handler,
        store: &mut Store<ExecutionState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Output>> + Send;

    /// Whether the instance can serve another execution after `output`.
    fn leaves_instance_usable(_output: &Self::Output) -> bool {
        true
    }
}

/// `handle-webhook`: the guest's response.
impl Export for Request {
    type Output = Response;
    fn call(
        &self,
        _: &Instance,
        handler: &Handler,
        store: &mut Store<ExecutionState>,
    ) -> impl Future<Output = wasmtime::Result<Response>> + Send {
        handler.call_handle_webhook(store, self)
    }
}

/// `handle-cron`: `Err` is the guest's own error message.
impl Export for CronEvent {
    type Output = Result<(), String>;
    fn call(
        &self,
        _: &Instance,
        handler: &Handler,
        store: &mut Store<ExecutionState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Output>> + Send {
        handler.call_handle_cron(store, self)
    }
}

/// `handle-manual`: manual trigger `name` with `input` (JSON text).
pub struct ManualCall {
    pub name: String,
    pub input: String,
}

/// The output as JSON text, or the guest's own error message.
impl Export for ManualCall {
    type Output = Result<String, String>;
    fn call(
        &self,
        _: &Instance,
        handler: &Handler,
        store: &mut Store<ExecutionState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Output>> + Send {
        handler.call_handle_manual(store, &self.name, &self.input)
    }
}

/// `durable.handle-run`: run function `name` with the run's `input`.
pub struct RunCall {
    pub name: String,
    pub input: String,
}

/// How a `handle-run` call ended.
#[derive(Debug)]
pub enum RunOutput {
    /// The run function returned: its output as JSON text, or its error.
    Returned(Result<String, String>),
    /// A `steps` call stopped it: the invocation says why.
    Stopped,
}

impl Export for RunCall {
    type Output = RunOutput;
    async fn call(
        &self,
        instance: &Instance,
        _: &Handler,
        store: &mut Store<ExecutionState>,
    ) -> wasmtime::Result<RunOutput> {
        let func =
            optional_func::<(&str, &str), (Result<String, String>,)>(instance, store, DURABLE_EXPORT, "handle-run")?
                .ok_or_else(|| wasmtime::Error::msg("the workflow has no run functions (no durable export)"))?;
        match func.call_async(&mut *store, (&self.name, &self.input)).await {
            Ok((returned,)) => Ok(RunOutput::Returned(returned)),
            // The trap a suspension raised is no failure of the guest's.
            Err(_) if store.data().now.run.as_ref().is_some_and(|run| run.stop.is_some()) => Ok(RunOutput::Stopped),
            Err(trap) => Err(trap),
        }
    }

    /// A stopped guest trapped: its instance can't be entered again.
    fn leaves_instance_usable(output: &RunOutput) -> bool {
        matches!(output, RunOutput::Returned(_))
    }
}

/// What a workflow declares, asked at deploy.
pub struct Declared {
    pub triggers: Vec<Trigger>,
    /// Its outbound HTTP allowlist entries, unchecked.
    pub allow_http: Vec<String>,
    /// Its run functions' names, unchecked.
    pub runs: Vec<String>,
}

/// The optional export that declares outbound HTTP; a workflow without it
/// makes no requests.
const EGRESS_EXPORT: &str = "floww:workflow/egress@0.1.0";
/// The optional export of durable run functions.
const DURABLE_EXPORT: &str = "floww:workflow/durable@0.1.0";

/// The function `name` of the optional export `interface`, if the workflow has it.
fn optional_func<Params, Results>(
    instance: &Instance,
    store: &mut Store<ExecutionState>,
    interface: &str,
    name: &str,
) -> wasmtime::Result<Option<wasmtime::component::TypedFunc<Params, Results>>>
where
    Params: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
    Results: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
{
    let Some(exported) = instance.get_export_index(&mut *store, None, interface) else { return Ok(None) };
    let func = instance
        .get_export_index(&mut *store, Some(&exported), name)
        .ok_or_else(|| wasmtime::Error::msg(format!("{interface} exports no `{name}`")))?;
    Ok(Some(instance.get_typed_func::<Params, Results>(&mut *store, func)?))
}

/// `triggers`, and `egress.allow-http` if the workflow exports it.
struct Declarations;

impl Export for Declarations {
    type Output = Declared;
    async fn call(
        &self,
        instance: &Instance,
        handler: &Handler,
        store: &mut Store<ExecutionState>,
    ) -> wasmtime::Result<Declared> {
        let triggers = handler.call_triggers(&mut *store).await?;
        let mut lists = Vec::new();
        for (interface, name) in [(EGRESS_EXPORT, "allow-http"), (DURABLE_EXPORT, "run-names")] {
            lists.push(match optional_func::<(), (Vec<String>,)>(instance, store, interface, name)? {
                Some(func) => func.call_async(&mut *store, ()).await?.0,
                None => Vec::new(),
            });
        }
        let runs = lists.pop().unwrap_or_default();
        let allow_http = lists.pop().unwrap_or_default();
        Ok(Declared { triggers, allow_http, runs })
    }
}

/// What a store holds: what lives as long as its instance (for a reused
/// instance, across executions), and what belongs to the execution `now`.
pub struct ExecutionState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    limits: ExecutionLimits,
    now: ExecutionCtx,
}

/// What one execution gets from the host: its identity, KV context, log,
/// deadline, secrets and run. Set anew for every execution, never carried
/// over to the next one on a reused instance.
struct ExecutionCtx {
    kv: KvCtx,
    log: GuestLog,
    runs: RunsCtx,
    /// The run a `handle-run` call invokes.
    run: Option<Invocation>,
    secrets: SecretsCtx,
    egress: Egress,
}

impl ExecutionState {
    /// What the execution under way leaves behind: its run, log lines and
    /// outbound requests.
    fn finish(&mut self) -> (Option<Invocation>, Vec<LogLine>, Vec<HttpCall>) {
        let now = &mut self.now;
        (now.run.take(), std::mem::take(&mut now.log).into_lines(), now.egress.calls())
    }
}

impl WasiView for ExecutionState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for ExecutionState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { hooks: &mut self.now.egress, table: &mut self.table, ctx: &mut self.http }
    }
}

pub struct Runtime {
    engine: Engine,
    /// The engine's settings but its instance allocator, for compiles.
    compile_config: Config,
    linker: Linker<ExecutionState>,
    kv: Arc<Kv>,
    /// What `triggers` calls see: a store that refuses every call.
    closed_kv: Arc<Kv>,
    secrets: Arc<Secrets>,
    runs: Arc<Runs>,
    limits: Limits,
    code: CodeCache<Code>,
    /// Instance slots of the pool, for executions and for deploys.
    execution_slots: Slots,
    deploy_slots: Slots,
    warm: Arc<WarmInstances<WarmInstance>>,
}

impl Runtime {
    /// A runtime serving `kv` to its guests within `limits`, caching
    /// compiled code in `code_dir`.
    pub fn new(
        kv: Arc<Kv>,
        secrets: Arc<Secrets>,
        runs: Arc<Runs>,
        limits: Limits,
        code_dir: &Path,
    ) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let compile_config = config.clone();
        config.allocation_strategy(pool::allocation_strategy(&limits));
        let engine = Engine::new(&config)?;

        let mut linker: Linker<ExecutionState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        KvCtx::add_to_linker(&mut linker, |s| &mut s.now.kv)?;
        GuestLog::add_to_linker(&mut linker, |s| &mut s.now.log)?;
        SecretsCtx::add_to_linker(&mut linker, |s| &mut s.now.secrets)?;
        RunsCtx::add_to_linker(&mut linker, |s| &mut s.now.runs)?;
        steps::add_to_linker(&mut linker)?;

        let code = CodeCache::open(code_dir, engine.precompile_compatibility_hash())
            .map_err(|e| wasmtime::Error::msg(format!("could not open the code cache {}: {e}", code_dir.display())))?;
        spawn_epoch_ticker(&engine);
        Ok(Self {
            engine,
            compile_config,
            linker,
            kv,
            closed_kv: Arc::new(Kv::closed()),
            secrets,
            runs,
            limits,
            code,
            execution_slots: Slots::new(limits.concurrency.max(1)),
            deploy_slots: Slots::new(DEPLOY_SLOTS),
            warm: WarmInstances::new(pool::warm_slots(&limits)),
        })
    }

    /// Compiles a component and links it against the host's imports. Code
    /// already in use, or cached on disk, is reused; new code is cached.
    pub fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Workflow> {
        check_kind(bytes)?;
        let sha256 = format!("{:x}", Sha256::digest(bytes));
        let code = self.code.get_or_make(&sha256, || match self.read_cached(&sha256) {
            Some(code) => Ok::<_, wasmtime::Error>(code),
            None => {
                // Compiled by an engine of its own, dropped after: Cranelift
                // keeps its working memory in its engine for the next compile
                // (tens of MiB after a JavaScript engine's component).
                let compiled = Engine::new(&self.compile_config)?.precompile_component(bytes)?;
                let saved = self.code.save(&sha256, &compiled);
                #[expect(unsafe_code, reason = "loading code compiled just above")]
                // SAFETY: the bytes (or the file just written with them) come
                // from `precompile_component`, with this engine's settings.
                // Mapped from the file, the code's pages are the file's, read
                // in as they are used, as after a restart.
                let component = unsafe {
                    match saved {
                        true => Component::deserialize_file(&self.engine, self.code.file(&sha256)),
                        false => Component::deserialize(&self.engine, &compiled),
                    }
                };
                drop(compiled);
                release_free_heap();
                self.link(sha256.clone(), component?)
            }
        })?;
        Ok(Workflow { code, warm: self.warm.pool() })
    }

    /// The code of component `sha256` if it is in use or cached on disk.
    pub fn cached(&self, sha256: &str) -> Option<Workflow> {
        let code = self.code.get_or_make(sha256, || self.read_cached(sha256).ok_or(())).ok()?;
        Some(Workflow { code, warm: self.warm.pool() })
    }

    /// Removes the cached code of every component but those in `used`.
    pub fn forget_code_except(&self, used: &[String]) {
        self.code.remove_files_except(used);
    }

    /// The code cached on disk for `sha256`, if there is a usable file.
    fn read_cached(&self, sha256: &str) -> Option<Code> {
        let path = self.code.file(sha256);
        if !path.exists() {
            return None;
        }
        #[expect(unsafe_code, reason = "the file is the host's own cache, written by `CodeCache::save`")]
        // SAFETY: wasmtime requires trusted input here: only the host writes
        // the cache, and wasmtime itself refuses code from another engine.
        let component = unsafe { Component::deserialize_file(&self.engine, &path) };
        component
            .and_then(|component| self.link(sha256.to_owned(), component))
            .inspect_err(|e| tracing::warn!("ignoring compiled cache {}: {e:#}", path.display()))
            .ok()
    }

    fn link(&self, sha256: String, component: Component) -> wasmtime::Result<Code> {
        let pre = self.linker.instantiate_pre(&component)?;
        let indices = WorkflowIndices::new(&pre).map_err(|e| {
            wasmtime::Error::msg(format!(
                "it is no floww workflow ({e}): declare its triggers with `floww::workflow! {{ … }}` and build it with \
                 `floww build`"
            ))
        })?;
        Ok(Code { sha256, pre, indices })
    }

    /// Asks a workflow what it declares, with a KV store that refuses every
    /// call and no network. Blocking: it is called where deploys run, on
    /// blocking threads.
    pub fn declarations(
        &self,
        workflow: &Workflow,
        workflow_id: &str,
        timeout: Option<Duration>,
    ) -> Result<Declared, ExecError> {
        let job = Job {
            workflow_id,
            execution_id: "deploy",
            timeout,
            allowlist: &Allowlist::default(),
            run: None,
            instance_reuse: Some(1),
        };
        let execution = self.execute(&self.deploy_slots, &self.closed_kv, Arc::default(), workflow, job, &Declarations);
        wasmtime_wasi::runtime::in_tokio(execution).result
    }

    /// Runs `export` through an instance of `workflow` (a fresh one unless
    /// it reuses them), as `job` says.
    pub async fn run<E: Export>(&self, workflow: &Workflow, job: Job<'_>, export: &E) -> Execution<E::Output> {
        // Read from the store at most once a second per workflow, off the async workers.
        let secrets = match self.secrets.cached(job.workflow_id) {
            Some(values) => values,
            None => {
                let (secrets, id) = (self.secrets.clone(), job.workflow_id.to_owned());
                tokio::task::spawn_blocking(move || secrets.values(&id)).await.unwrap_or_default()
            }
        };
        self.execute(&self.execution_slots, &self.kv, secrets, workflow, job, export).await
    }

    async fn execute<E: Export>(
        &self,
        slots: &Slots,
        kv: &Arc<Kv>,
        secrets: Arc<SecretValues>,
        workflow: &Workflow,
        job: Job<'_>,
        export: &E,
    ) -> Execution<E::Output> {
        // The deadline counts from when the execution has an instance slot.
        let _slot = slots.take().await;
        let timeout = job.timeout.unwrap_or(self.limits.timeout);
        let deadline = Instant::now() + timeout;
        let caller: Arc<str> = job.workflow_id.into();
        let now = ExecutionCtx {
            kv: KvCtx { kv: kv.clone(), caller: caller.clone(), staging: None },
            log: GuestLog::new(caller.clone(), job.execution_id, secrets.clone()),
            runs: RunsCtx { runs: self.runs.clone(), caller: caller.clone() },
            run: job.run,
            secrets: SecretsCtx { values: secrets.clone() },
            egress: Egress::new(caller, job.allowlist.clone(), secrets.clone(), self.limits.private_egress, deadline),
        };
        let reuse = self.instance_reuse(job.instance_reuse);
        let warm = if reuse > 1 { workflow.warm.take() } else { None };
        let (mut store, mut warm, uses) = match warm {
            Some((WarmInstance { mut store, instance, exports }, uses)) => {
                store.data_mut().now = now;
                (store, Some((instance, exports)), uses)
            }
            None => (self.new_store(now), None, 0),
        };
        // The deadline is a wall-clock instant. Running wasm checks it at every
        // epoch tick (and yields to the other tasks of its worker); a guest
        // blocked in a host call (a sleep, a KV write) is dropped by the timer.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline { Err(Trap::Interrupt.into()) } else { Ok(UpdateDeadline::Yield(1)) }
        });

        let run = async {
            let (instance, exports) = match warm.take() {
                Some(warm) => warm,
                None => {
                    let instance = workflow.code.pre.instantiate_async(&mut store).await?;
                    let exports = workflow.code.indices.load(&mut store, &instance)?;
                    (instance, exports)
                }
            };
            let output = export.call(&instance, exports.floww_workflow_handler(), &mut store).await?;
            Ok((output, instance, exports))
        };
        let result = match tokio::time::timeout_at(deadline.into(), run).await {
            Ok(result) => result.map_err(|e: wasmtime::Error| match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => ExecError::Timeout(timeout),
                _ => ExecError::Trap(e),
            }),
            Err(_) => Err(ExecError::Timeout(timeout)),
        };
        let (run, logs, http) = store.data_mut().finish();
        // An instance that failed in any way, or reached its memory cap or
        // its count of uses, is dropped (before the slot, so it is back in
        // the allocator first); one that may serve again waits warm.
        let result = result.map(|(output, instance, exports)| {
            let uses = uses + 1;
            if uses < reuse && E::leaves_instance_usable(&output) && !store.data().limits.hit_memory_cap() {
                workflow.warm.put(WarmInstance { store, instance, exports }, uses);
            }
            output
        });
        Execution { result, run, logs, http, secrets }
    }

    /// Executions one instance serves: a workflow's `choice`, or the host's default.
    pub fn instance_reuse(&self, choice: Option<u32>) -> u32 {
        choice.unwrap_or(self.limits.instance_reuse)
    }

    /// A store for a new instance, with the execution `now`.
    fn new_store(&self, now: ExecutionCtx) -> Store<ExecutionState> {
        let state = ExecutionState {
            wasi: WasiCtx::builder().allow_tcp(false).allow_udp(false).build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
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
            now,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store
    }
}

/// What one execution is: whose, which, how long it may take, and where its
/// outbound HTTP may go.
pub struct Job<'a> {
    pub workflow_id: &'a str,
    pub execution_id: &'a str,
    /// Overrides the host's deadline.
    pub timeout: Option<Duration>,
    pub allowlist: &'a Allowlist,
    /// The run a `handle-run` call invokes.
    pub run: Option<Invocation>,
    /// Overrides the host's [`Limits::instance_reuse`].
    pub instance_reuse: Option<u32>,
}

/// Says what to do with bytes that are no component before wasmtime parses
/// them: a component starts with `\0asm` and layer 1 (a core module, layer 0).
fn check_kind(bytes: &[u8]) -> wasmtime::Result<()> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', _, _, 0, 0]) => Err(wasmtime::Error::msg(
            "it is a core WebAssembly module, not a component: build the crate for wasm32-wasip2 with `floww build`",
        )),
        _ => Err(wasmtime::Error::msg(
            "it is not WebAssembly: deploy the .wasm that `floww build` prints, or the crate's folder",
        )),
    }
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

/// Gives the heap a compile freed back to the system. glibc keeps freed
/// memory for later, and a compile frees a lot: over 100 MiB after a
/// JavaScript engine's component, which an idle host would hold for good.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_heap() {
    #[expect(unsafe_code, reason = "a libc call")]
    // SAFETY: `malloc_trim` only returns free pages of the heap to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}
