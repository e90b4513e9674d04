//! The run dispatcher: claims the durable runs that are due (started,
//! woken from a sleep, a retry due, an event delivered, or on PostgreSQL a
//! run whose host died mid-invocation) and invokes each through the
//! executor, then writes back what the invocation left.
//!
//! Runs share the host's `--max-concurrency` with every other trigger, but
//! at most half of it: webhooks always have the other half. A run is
//! claimed only when one of those slots is free, so a run that waits for a
//! slot is not leased meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::executor::{Executor, Failure, Outcome};
use crate::kv::Kv;
use crate::registry::Registry;
use crate::runs::{Cut, Invocation, Run, Runs, Status};
use crate::runtime::{RunCall, RunOutput};
use crate::storage::now_ms;

/// How often the store is asked for due runs when nothing local wakes the
/// dispatcher: what a run started on another host waits at most.
const POLL: Duration = Duration::from_secs(1);
/// A run the executor turned away (the host is at capacity) is tried again after this.
const BUSY_RETRY_MS: u64 = 1_000;

struct Shared {
    registry: Arc<Registry>,
    executor: Arc<Executor>,
    runs: Arc<Runs>,
    kv: Arc<Kv>,
    /// How long a claim holds a run: past it, another host may take it over.
    lease_ms: u64,
    /// This process, in the leases it writes.
    host: String,
    claims: AtomicU64,
    slot_freed: Notify,
}

/// The dispatcher, running until dropped or [stopped](Dispatcher::stop).
pub struct Dispatcher {
    task: JoinHandle<()>,
    slots: Arc<Semaphore>,
    size: u32,
    lease: Duration,
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Dispatcher {
    /// Starts dispatching with at most `slots` invocations at once, each
    /// claim holding its run for `lease`. Call it inside the Tokio runtime.
    pub fn start(
        registry: Arc<Registry>,
        executor: Arc<Executor>,
        runs: Arc<Runs>,
        kv: Arc<Kv>,
        slots: usize,
        lease: Duration,
    ) -> Dispatcher {
        let shared = Arc::new(Shared {
            registry,
            executor,
            runs,
            kv,
            lease_ms: lease.as_millis() as u64,
            host: uuid::Uuid::now_v7().to_string(),
            claims: AtomicU64::new(0),
            slot_freed: Notify::new(),
        });
        let size = slots.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)) as u32;
        let slots = Arc::new(Semaphore::new(size as usize));
        Dispatcher { task: tokio::spawn(dispatch(shared, slots.clone())), slots, size, lease }
    }

    /// Claims no more runs and waits (at most a lease) for the invocations
    /// under way to end and write back their runs: a host that stops does
    /// not leave them leased to nobody.
    pub async fn stop(self) {
        self.task.abort();
        if tokio::time::timeout(self.lease, self.slots.acquire_many(self.size)).await.is_err() {
            tracing::warn!("stopped before every run's invocation ended; those runs wait for their lease to run out");
        }
    }
}

async fn dispatch(shared: Arc<Shared>, slots: Arc<Semaphore>) {
    loop {
        let free = slots.available_permits();
        let mut claimed_all = false;
        if free > 0 {
            let lease = format!("{}:{}", shared.host, shared.claims.fetch_add(1, Ordering::Relaxed));
            let claimed = {
                let (shared, lease) = (shared.clone(), lease.clone());
                tokio::task::spawn_blocking(move || {
                    let now = now_ms();
                    shared.runs.store().claim(now, &lease, now + shared.lease_ms, free)
                })
                .await
            };
            match claimed {
                Ok(Ok(runs)) => {
                    claimed_all = runs.len() == free;
                    for run in runs {
                        let Ok(permit) = slots.clone().acquire_owned().await else { return };
                        tokio::spawn(invoke_guarded(shared.clone(), run, lease.clone(), permit));
                    }
                }
                Ok(Err(e)) => tracing::warn!("could not claim due runs: {e}"),
                Err(_) => return,
            }
        }
        if claimed_all {
            continue; // more may be due
        }
        let next = {
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || shared.runs.store().next_due()).await
        };
        let wait = match next {
            Ok(Ok(Some(at))) => Duration::from_millis(at.saturating_sub(now_ms())).min(POLL),
            _ => POLL,
        };
        tokio::select! {
            () = shared.runs.woken() => {}
            () = shared.slot_freed.notified(), if free == 0 => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// [`invoke`], and if it panics (a host bug), the run is queued again
/// rather than left `running` under a lease nobody holds.
async fn invoke_guarded(shared: Arc<Shared>, run: Run, lease: String, slot: OwnedSemaphorePermit) {
    let id = run.id.clone();
    if let Err(e) = tokio::spawn(invoke(shared.clone(), run, lease, slot)).await {
        tracing::error!(run = %id, "a run's invocation failed ({e}); it runs again in {BUSY_RETRY_MS} ms");
        let store = shared.runs.store().clone();
        let requeued = tokio::task::spawn_blocking(move || {
            store.update(&id, &mut |run| {
                let now = now_ms();
                (run.status == Status::Running).then(|| {
                    run.set_status(Status::Queued, now);
                    run.due_at = Some(now + BUSY_RETRY_MS);
                    u32::MAX
                })
            })
        });
        if let Ok(Err(e)) = requeued.await {
            tracing::error!("could not queue the run again (it runs once its lease runs out, or after a restart): {e}");
        }
    }
}

/// Invokes one claimed run and writes back what became of it.
async fn invoke(shared: Arc<Shared>, mut run: Run, lease: String, slot: OwnedSemaphorePermit) {
    let _slot = Freed { _permit: slot, shared: shared.clone() };
    let now = now_ms();
    let declared = shared.registry.get(&run.workflow).filter(|d| d.manifest.runs.contains(&run.name));
    let Some(deployment) = declared else {
        run.set_status(Status::Failed, now);
        run.error = Some(format!(
            "workflow {:?} is not deployed or no longer declares run function {:?}",
            run.workflow, run.name
        ));
        return release(&shared, run, lease).await;
    };
    let admitted = match shared.executor.admit(deployment, format!("run {}", run.name)).await {
        Ok(admitted) => admitted,
        Err(refused) => {
            tracing::warn!(run = %run.id, "run {:?} waits: {}", run.name, refused.busy);
            run.set_status(if run.invocations == 0 { Status::Queued } else { Status::Retrying }, now);
            run.due_at = Some(now + BUSY_RETRY_MS);
            return release(&shared, run, lease).await;
        }
    };
    let journal = {
        let (shared, id) = (shared.clone(), run.id.clone());
        tokio::task::spawn_blocking(move || shared.runs.store().journal(&id)).await
    };
    let journal = match journal {
        Ok(Ok(journal)) => journal,
        failed => {
            let why = failed.map_or_else(|e| e.to_string(), |r| r.err().map(|e| e.to_string()).unwrap_or_default());
            tracing::warn!(run = %run.id, "could not read the run's journal; trying again later: {why}");
            drop(admitted);
            run.due_at = Some(now + BUSY_RETRY_MS);
            run.set_status(Status::Queued, now);
            return release(&shared, run, lease).await;
        }
    };
    let call = RunCall { name: run.name.clone(), input: run.input.clone() };
    let execution = admitted.id().to_owned();
    let invocation =
        Invocation::new(run, lease.clone(), execution, shared.runs.store().clone(), shared.kv.clone(), journal);
    let accept = |output| match output {
        RunOutput::Returned(Err(error)) => Err(Failure::Error(error)),
        output => Ok(output),
    };
    let (ran, invocation) = admitted.invoke(call, accept, Some(invocation)).await;
    let result = match ran.outcome {
        Outcome::Completed(RunOutput::Returned(Ok(output))) => Ok(Ok(output)),
        Outcome::Completed(RunOutput::Returned(Err(error))) | Outcome::Failed(Failure::Error(error)) => Ok(Err(error)),
        Outcome::Completed(RunOutput::Stopped) => Err(Cut::Stopped),
        Outcome::Failed(Failure::Trapped | Failure::InvalidOutput(_)) => {
            Err(Cut::Trapped(format!("the run function trapped; execution {} has the details", ran.id)))
        }
        Outcome::Timeout(limit) => Err(Cut::TimedOut(format!(
            "the invocation ran past its {limit:?} deadline; execution {} has the details",
            ran.id
        ))),
    };
    let Some(invocation) = invocation else {
        return tracing::error!(execution = %ran.id, "a run's invocation was lost with its task");
    };
    // Off the async workers: ending a step cut short writes to the store.
    match tokio::task::spawn_blocking(move || invocation.end(result)).await {
        Ok(Some(run)) => release(&shared, run, lease).await,
        Ok(None) => {
            tracing::info!(execution = %ran.id, "the run was cancelled or taken over meanwhile; nothing written")
        }
        Err(e) => tracing::error!(execution = %ran.id, "ending a run's invocation failed: {e}"),
    }
}

/// Writes back a run this host claimed under `lease`.
async fn release(shared: &Arc<Shared>, run: Run, lease: String) {
    let (status, workflow) = (run.status, run.workflow.clone());
    let released = {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || shared.runs.store().release(&run, &lease)).await
    };
    match released {
        Ok(Ok(true)) => {
            if status.is_final() {
                crate::metrics::global().run_ended(&workflow, status.as_str());
            }
            // A run suspended until now, or re-queued, is due again at once.
            shared.runs.wake();
        }
        Ok(Ok(false)) => tracing::info!("a run was cancelled or taken over meanwhile; its invocation wrote nothing"),
        Ok(Err(e)) => tracing::error!("could not write back a run (its lease will run out, and it runs again): {e}"),
        Err(_) => {}
    }
}

/// A run slot that tells the dispatcher when it is free again.
struct Freed {
    _permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
}

impl Drop for Freed {
    fn drop(&mut self) {
        self.shared.slot_freed.notify_one();
    }
}
