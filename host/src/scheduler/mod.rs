//! The scheduler: runs each deployed cron trigger at the ticks its schedule
//! names (UTC), through the executor, behind the same admission
//! (back-pressure) as webhooks. Each schedule has a task of its own on the
//! async workers; claims of ticks go to the blocking pool.
//!
//! Rules:
//! - **At most once.** A tick is [claimed](Ticks::claim) durably before it
//!   runs, and only a tick later than the last one claimed can be: no tick
//!   runs twice, across restarts and crashes included, nor across hosts that
//!   share a PostgreSQL store (each tries, one claim wins).
//! - **No bursts.** Ticks that fell while the host was down, while the
//!   previous run of the same schedule was still going, or while the host was
//!   at capacity are skipped, with a warning that says how many.
//! - **Follows deploys.** One task per (workflow, schedule), started and
//!   stopped as the registry changes. A redeploy that keeps a schedule keeps
//!   its task (the next tick runs the new version); one that drops it, or an
//!   undeploy, stops the task and forgets its record.
//!
//! It reads the registry and calls the executor; it never changes either.

mod postgres;
mod runs;
mod ticks;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::postgres::PostgresTicks;
pub use self::runs::Dispatcher;
pub use self::ticks::{FileTicks, Ticks};
use crate::bindings::CronEvent;
use crate::executor::{Executor, Failure};
use crate::registry::Registry;
use crate::storage::now_ms;
use crate::triggers::Schedule;

/// Skipped ticks are counted up to this many (a long outage of a per-second
/// schedule would otherwise take a while to count).
const MAX_COUNTED: usize = 100_000;

/// The longest single sleep: the wall clock is looked at again after it, so a
/// clock that is set forward or back is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// What the scheduler's tasks share.
struct Shared {
    registry: Arc<Registry>,
    executor: Arc<Executor>,
    ticks: Box<dyn Ticks>,
}

/// The scheduler, ready to [start](Scheduler::start).
pub struct Scheduler {
    shared: Arc<Shared>,
}

/// The running scheduler; dropping it stops every cron task.
pub struct Running {
    supervisor: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

impl Scheduler {
    pub fn new(registry: Arc<Registry>, executor: Arc<Executor>, ticks: Box<dyn Ticks>) -> Scheduler {
        Scheduler { shared: Arc::new(Shared { registry, executor, ticks }) }
    }

    /// Starts running the registry's crons, and follows its changes. Call it
    /// inside the Tokio runtime that serves the host.
    pub fn start(self) -> Running {
        let changes = self.shared.registry.subscribe();
        Running { supervisor: tokio::spawn(supervise(self.shared, changes)) }
    }
}

type JobKey = (String, String);

/// Keeps one task per deployed (workflow, schedule), until the registry goes.
async fn supervise(shared: Arc<Shared>, mut changes: watch::Receiver<u64>) {
    /// Aborts the cron tasks when the supervisor itself ends or is aborted.
    struct Jobs(HashMap<JobKey, JoinHandle<()>>);
    impl Drop for Jobs {
        fn drop(&mut self) {
            self.0.values().for_each(JoinHandle::abort);
        }
    }

    let mut jobs = Jobs(HashMap::new());
    let mut first = true;
    loop {
        changes.mark_unchanged();
        let wanted = wanted(&shared.registry);
        let stopped: Vec<JobKey> = jobs.0.keys().filter(|key| !wanted.contains_key(*key)).cloned().collect();
        for key in &stopped {
            if let Some(job) = jobs.0.remove(key) {
                job.abort();
            }
            tracing::info!(workflow = %key.0, "cron {:?} stopped: the workflow no longer declares it", key.1);
        }
        // Records of schedules that are gone: those just stopped and, at
        // start-up, any left from workflows undeployed or changed meanwhile.
        let keep: Vec<JobKey> = wanted.keys().cloned().collect();
        if first || !stopped.is_empty() {
            let shared = shared.clone();
            let forgotten = tokio::task::spawn_blocking(move || {
                shared.ticks.retain(&|workflow, schedule| keep.iter().any(|(w, s)| w == workflow && s == schedule))
            });
            if let Ok(Err(e)) = forgotten.await {
                tracing::warn!("could not forget the ticks of removed cron triggers: {e}");
            }
        }
        first = false;
        for (key, schedule) in wanted {
            if let Entry::Vacant(vacant) = jobs.0.entry(key) {
                let workflow = vacant.key().0.clone();
                vacant.insert(tokio::spawn(run(shared.clone(), workflow, schedule)));
            }
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// Every cron the registry's workflows declare.
fn wanted(registry: &Registry) -> HashMap<JobKey, Schedule> {
    let mut wanted = HashMap::new();
    for deployment in registry.list() {
        for cron in &deployment.manifest.crons {
            let key = (deployment.manifest.id.to_string(), cron.schedule.as_str().to_owned());
            wanted.insert(key, cron.schedule.clone());
        }
    }
    wanted
}

/// Runs one schedule of one workflow, tick after tick, until aborted.
async fn run(shared: Arc<Shared>, workflow: String, schedule: Schedule) {
    let last = {
        let (shared, workflow, text) = (shared.clone(), workflow.clone(), schedule.as_str().to_owned());
        tokio::task::spawn_blocking(move || shared.ticks.last(&workflow, &text)).await
    };
    let last = match last {
        Ok(Ok(last)) => last,
        Ok(Err(e)) => {
            // Running anyway is safe: the claim below refuses a tick already run.
            tracing::warn!(%workflow, "cron {:?}: could not read its last tick: {e}", schedule.as_str());
            None
        }
        Err(_) => return,
    };
    let now = now_ms();
    if let Some(last) = last {
        skipped(&workflow, &schedule, last, now, "while the host was not running");
    }
    // Never before the last tick fired, even if the clock was set back.
    let mut after = last.map_or(now, |last| last.max(now));
    loop {
        let Some(tick) = schedule.next_after(after) else {
            tracing::warn!(%workflow, "cron {:?} has no more ticks", schedule.as_str());
            return;
        };
        tracing::debug!(%workflow, "cron {:?}: next tick at {tick}", schedule.as_str());
        sleep_until(tick).await;
        fire(&shared, &workflow, &schedule, tick).await;
        let now = now_ms();
        skipped(&workflow, &schedule, tick, now, "while the run before them was still going");
        after = tick.max(now);
    }
}

/// Warns about the ticks in `(after, now]`, which will not run.
fn skipped(workflow: &str, schedule: &Schedule, after: u64, now: u64, why: &str) {
    let count = schedule.count_between(after, now, MAX_COUNTED);
    if count > 0 {
        let count = if count == MAX_COUNTED { format!("{MAX_COUNTED} or more") } else { count.to_string() };
        tracing::warn!(%workflow, "cron {:?}: skipped {count} tick(s) that fell {why}", schedule.as_str());
    }
}

/// Sleeps until the wall clock reads `at` (ms since the Unix epoch).
async fn sleep_until(at: u64) {
    loop {
        let now = now_ms();
        if now >= at {
            return;
        }
        tokio::time::sleep(Duration::from_millis(at - now).min(MAX_SLEEP)).await;
    }
}

/// Runs one tick: waits for a slot, claims the tick on disk, then runs it.
async fn fire(shared: &Arc<Shared>, workflow: &str, schedule: &Schedule, tick: u64) {
    let deployment = shared.registry.get(workflow);
    let Some(deployment) = deployment.filter(|d| d.manifest.crons.iter().any(|c| c.schedule == *schedule)) else {
        return; // undeployed a moment ago; the supervisor is stopping this task
    };
    let text = schedule.as_str();
    let run = match shared.executor.admit(deployment, format!("cron {text}")).await {
        Ok(run) => run,
        Err(refused) => {
            tracing::warn!(%workflow, execution = %refused.id, "cron {text:?}: tick {tick} skipped: {}", refused.busy);
            return;
        }
    };
    let claimed = {
        let (shared, workflow, text) = (shared.clone(), workflow.to_owned(), text.to_owned());
        tokio::task::spawn_blocking(move || shared.ticks.claim(&workflow, &text, tick)).await
    };
    // Unless this host claims the tick, it is no execution of its own: it ends unrecorded.
    match claimed {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            return tracing::warn!(%workflow, "cron {text:?}: tick {tick} already ran; not running it again");
        }
        Ok(Err(e)) => {
            return tracing::error!(
                %workflow,
                "cron {text:?}: could not record tick {tick}, so it does not run (it could otherwise run twice): {e}"
            );
        }
        Err(_) => return,
    }
    let event = CronEvent { schedule: text.to_owned(), scheduled_at: tick, fired_at: now_ms() };
    run.run(event, |output| output.map_err(Failure::Error)).await;
}
