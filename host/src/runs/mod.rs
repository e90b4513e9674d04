//! Durable runs: a workflow's run functions (`run "name" => f`), started
//! with a JSON input and invoked again and again, each time in a fresh
//! instance, until they end. What a run has done lives in its **journal**:
//! one entry per step, sleep or wait it finished, in order. On every
//! invocation the guest meets them again and gets their recorded results
//! instead of running them (replay); a run that meets another one than the
//! journal holds at a position fails as non-deterministic.
//!
//! A step's KV writes are staged (`kv::Staging`) and commit in the same
//! transaction as the step's journal entry, under the invocation's lease: so
//! across crashes, retries and hosts, each step's KV effects happen once.
//!
//! This module keeps runs ([`RunStore`], on sled or PostgreSQL), decides
//! what each call of the `steps` interface means ([`Invocation`]), and
//! serves the `runs` interface and the admin API ([`Runs`]). The scheduler's
//! `dispatch` claims due runs and invokes them through the executor.

#[cfg(test)]
mod conformance;
mod host;
mod invocation;
mod postgres;
mod sled;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::host::RunsCtx;
pub use self::invocation::{Answer, Began, Cut, Invocation, Retry, Suspend};
pub use self::postgres::PostgresRuns;
pub use self::sled::SledRuns;
use crate::runtime::LogLine;
use crate::storage::{StorageError, StorageResult, now_ms};

/// The largest input, output, step output or event payload, in bytes of JSON text.
pub const MAX_JSON_BYTES: usize = 1 << 20;
/// The most steps, sleeps and waits one run may journal.
pub const MAX_ENTRIES: u32 = 1000;
/// The most bytes a run's journal may hold.
pub const MAX_JOURNAL_BYTES: usize = 16 << 20;
/// The longest idempotency key, in characters.
pub const MAX_KEY_CHARS: usize = 255;
/// How long an ended run (and so its idempotency key) is kept.
pub const KEEP_ENDED_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Started, not invoked yet (or rerun).
    Queued,
    /// An invocation holds it.
    Running,
    /// In a durable sleep.
    Sleeping,
    /// Waiting for an event.
    Waiting,
    /// A step failed and waits for its next attempt.
    Retrying,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Queued,
        Status::Running,
        Status::Sleeping,
        Status::Waiting,
        Status::Retrying,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Sleeping => "sleeping",
            Status::Waiting => "waiting",
            Status::Retrying => "retrying",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the run has ended: nothing invokes it again unless it is rerun.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }
}

/// What a journal entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Step,
    Sleep,
    Event,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Step => "step",
            Kind::Sleep => "sleep",
            Kind::Event => "event",
        }
    }
}

/// One attempt of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub started_at: u64,
    pub ended_at: u64,
    /// Why it failed; none for the attempt that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The execution it ran in.
    pub execution: String,
    /// The lines the guest logged during it.
    pub logs: Vec<LogLine>,
}

/// A finished step, sleep or wait, at its position in the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub index: u32,
    pub kind: Kind,
    pub name: String,
    /// A step's output or an event's payload (JSON text); none for a sleep,
    /// a wait that timed out and a step that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The error a step failed with for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// For a wait that received one: the event's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_seq: Option<u64>,
    pub started_at: u64,
    pub ended_at: u64,
}

/// What a suspended run is in: the step, sleep or wait at `index` that has
/// not finished, beyond the journal's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub index: u32,
    pub kind: Kind,
    pub name: String,
    /// A retrying step's failed attempts so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// When a sleep ends, a wait times out or a retry is due; none: a wait
    /// without a timeout.
    pub wake_at: Option<u64>,
    /// A wait takes only events after this sequence number.
    #[serde(default)]
    pub after_seq: u64,
    /// When the run first met it.
    pub since: u64,
}

/// A run as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// A UUIDv7: runs sort by start time.
    pub id: String,
    pub workflow: String,
    /// The run function.
    pub name: String,
    /// JSON text.
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub status: Status,
    pub created_at: u64,
    pub updated_at: u64,
    /// When it is to be invoked next; none while running, ended, or
    /// waiting for an event without a timeout.
    pub due_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// Invocations so far.
    pub invocations: u32,
    /// Milliseconds spent suspended (sleeping, waiting, retrying).
    #[serde(default)]
    pub suspended_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
}

impl Run {
    /// A new run, due at `now`.
    pub fn queued(id: String, workflow: &str, name: &str, input: &str, key: Option<&str>, now: u64) -> Run {
        Run {
            id,
            workflow: workflow.to_owned(),
            name: name.to_owned(),
            input: input.to_owned(),
            idempotency_key: key.map(str::to_owned),
            status: Status::Queued,
            created_at: now,
            updated_at: now,
            due_at: Some(now),
            output: None,
            error: None,
            pending: None,
            invocations: 0,
            suspended_ms: 0,
            ended_at: None,
        }
    }

    /// Moves the run to `status`, noting when it changed (and ended).
    pub fn set_status(&mut self, status: Status, now: u64) {
        self.status = status;
        self.updated_at = now;
        if status.is_final() {
            self.ended_at = Some(now);
            self.due_at = None;
            self.pending = None;
        }
    }
}

/// An event delivered to a run, in delivery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub name: String,
    pub payload: String,
}

/// Which runs a listing returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub workflow: Option<String>,
    pub status: Option<Status>,
    /// Only runs older than this one: the previous page's cursor.
    pub before: Option<String>,
}

impl Filter {
    pub fn matches(&self, run: &Run) -> bool {
        self.workflow.as_ref().is_none_or(|w| *w == run.workflow) && self.status.is_none_or(|s| s == run.status)
    }
}

/// What became of an event sent to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Kept,
    NoRun,
    Ended(Status),
}

/// Storage for runs, their journals and events. Every change is durable
/// when the call returns.
pub trait RunStore: Send + Sync + 'static {
    /// Stores a new run, unless its idempotency key is taken for its
    /// workflow and run function: then the id of the run that holds it.
    fn create(&self, run: &Run) -> StorageResult<Option<String>>;
    fn get(&self, id: &str) -> StorageResult<Option<Run>>;
    /// At most `limit` runs that `filter` matches, newest first.
    fn list(&self, filter: &Filter, limit: usize) -> StorageResult<Vec<Run>>;
    /// The run's journal, in order.
    fn journal(&self, id: &str) -> StorageResult<Vec<Entry>>;
    /// The events of `name` delivered to the run, in order.
    fn events(&self, id: &str, name: &str) -> StorageResult<Vec<Event>>;
    /// Keeps an event for the run; a run waiting for it becomes due now.
    fn add_event(&self, id: &str, name: &str, payload: &str, now: u64) -> StorageResult<Delivered>;
    /// Claims up to `limit` runs due at `now` (and on a shared store, runs
    /// whose invocation's lease ran out): each becomes `running` under
    /// `lease` until `lease_until`. Each run is claimed by one caller.
    fn claim(&self, now: u64, lease: &str, lease_until: u64, limit: usize) -> StorageResult<Vec<Run>>;
    /// When the next run falls due, if any is waiting for a time.
    fn next_due(&self) -> StorageResult<Option<u64>>;
    /// Writes back a run claimed under `lease` and drops the lease; `false`
    /// (and no change) if the lease is no longer its: the run was cancelled,
    /// or another host took it over. A run written back `waiting` for an
    /// event already delivered becomes due at once.
    fn release(&self, run: &Run, lease: &str) -> StorageResult<bool>;
    /// Changes a run outside any invocation (cancel, rerun), dropping its
    /// lease: `change` edits it and says whether to keep the edit, and
    /// journal entries from `truncate` on go with it. `None`: no such run.
    fn update(&self, id: &str, change: &mut dyn FnMut(&mut Run) -> Option<u32>) -> StorageResult<Option<Run>>;
    /// Removes runs that ended before `before`, with their journals, events and keys.
    fn prune(&self, before: u64) -> StorageResult<usize>;
}

/// Why a run could not be started, changed or sent an event.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A run to start.
pub struct Start<'a> {
    pub workflow: &'a str,
    pub name: &'a str,
    pub input: &'a str,
    pub idempotency_key: Option<&'a str>,
}

/// Answers which run functions a deployed workflow declares.
pub trait RunDirectory: Send + Sync {
    /// `None` if `workflow` is not deployed.
    fn run_names(&self, workflow: &str) -> Option<Vec<String>>;
}

/// Runs as callers see them: start, send events, look, cancel, rerun. Cheap
/// to share: hold it in an `Arc`.
pub struct Runs {
    store: Arc<dyn RunStore>,
    workflows: Arc<dyn RunDirectory>,
    /// Tells the dispatcher of this host that a run may be due now.
    wake: tokio::sync::Notify,
}

impl Runs {
    pub fn new(store: Arc<dyn RunStore>, workflows: Arc<dyn RunDirectory>) -> Self {
        Runs { store, workflows, wake: tokio::sync::Notify::new() }
    }

    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.store
    }

    /// Resolves when a run may have become due on this host.
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    /// Tells the dispatcher a run may be due now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts a run of `start.name`; returns its id and whether it is new
    /// (not the run an earlier start with the same key made).
    pub fn start(&self, start: &Start<'_>) -> Result<(String, bool), RunError> {
        match self.workflows.run_names(start.workflow) {
            None => return Err(RunError::NotFound(format!("no workflow {:?} is deployed", start.workflow))),
            Some(names) if !names.iter().any(|n| n == start.name) => {
                return Err(RunError::NotFound(format!(
                    "workflow {:?} declares no run function {:?}",
                    start.workflow, start.name
                )));
            }
            Some(_) => {}
        }
        check_json("the input", start.input)?;
        if let Some(key) = start.idempotency_key {
            check_key(key)?;
        }
        let run = Run::queued(
            uuid::Uuid::now_v7().to_string(),
            start.workflow,
            start.name,
            start.input,
            start.idempotency_key,
            now_ms(),
        );
        match self.store.create(&run)? {
            Some(existing) => Ok((existing, false)),
            None => {
                crate::metrics::global().run_started(&run.workflow);
                self.wake();
                Ok((run.id, true))
            }
        }
    }

    /// Delivers event `name` to run `id` of `workflow`.
    pub fn send_event(&self, workflow: Option<&str>, id: &str, name: &str, payload: &str) -> Result<(), RunError> {
        check_event_name(name)?;
        check_json("the payload", payload)?;
        self.get(workflow, id)?;
        match self.store.add_event(id, name, payload, now_ms())? {
            Delivered::Kept => {
                self.wake();
                Ok(())
            }
            Delivered::NoRun => Err(no_run(id)),
            Delivered::Ended(status) => {
                Err(RunError::Conflict(format!("run {id} has ended ({}); it takes no more events", status.as_str())))
            }
        }
    }

    /// Forgets runs that ended more than [`KEEP_ENDED_MS`] ago.
    pub fn prune(&self) -> StorageResult<usize> {
        self.store.prune(now_ms().saturating_sub(KEEP_ENDED_MS))
    }

    /// Run `id`; with `workflow`, only if it is that workflow's.
    pub fn get(&self, workflow: Option<&str>, id: &str) -> Result<Run, RunError> {
        match self.store.get(id)? {
            Some(run) if workflow.is_none_or(|w| w == run.workflow) => Ok(run),
            _ => Err(no_run(id)),
        }
    }

    /// Run `id` (with `workflow`, only that workflow's) and its journal.
    pub fn with_journal(&self, workflow: Option<&str>, id: &str) -> Result<(Run, Vec<Entry>), RunError> {
        let run = self.get(workflow, id)?;
        let journal = self.store.journal(id)?;
        Ok((run, journal))
    }

    /// Cancels a run that has not ended; an invocation under way loses its
    /// lease, so nothing it does after is kept.
    pub fn cancel(&self, id: &str) -> Result<Run, RunError> {
        let now = now_ms();
        let mut ended = None;
        let run = self.store.update(id, &mut |run| {
            if run.status.is_final() {
                ended = Some(run.status);
                return None;
            }
            run.set_status(Status::Cancelled, now);
            run.error = Some("cancelled".into());
            Some(u32::MAX)
        })?;
        match (run, ended) {
            (None, _) => Err(no_run(id)),
            (Some(_), Some(status)) => {
                Err(RunError::Conflict(format!("run {id} has ended ({}); there is nothing to cancel", status.as_str())))
            }
            (Some(run), None) => {
                crate::metrics::global().run_ended(&run.workflow, run.status.as_str());
                Ok(run)
            }
        }
    }

    /// Runs an ended run again on the workflow's current version: from the
    /// start, or from entry `from` on, keeping the journal before it.
    pub fn rerun(&self, id: &str, from: u32) -> Result<Run, RunError> {
        let now = now_ms();
        let mut running = None;
        let run = self.store.update(id, &mut |run| {
            if !run.status.is_final() {
                running = Some(run.status);
                return None;
            }
            *run = Run {
                status: Status::Queued,
                updated_at: now,
                due_at: Some(now),
                output: None,
                error: None,
                pending: None,
                ended_at: None,
                ..run.clone()
            };
            Some(from)
        })?;
        match (run, running) {
            (None, _) => Err(no_run(id)),
            (Some(_), Some(status)) => Err(RunError::Conflict(format!(
                "run {id} is {}; only a run that has ended can run again (cancel it first)",
                status.as_str()
            ))),
            (Some(run), None) => {
                self.wake();
                Ok(run)
            }
        }
    }
}

fn no_run(id: &str) -> RunError {
    RunError::NotFound(format!("no run {id}"))
}

fn check_json(what: &str, text: &str) -> Result<(), RunError> {
    if text.len() > MAX_JSON_BYTES {
        return Err(RunError::TooLarge(format!(
            "{what} is {} bytes of JSON; the most is {MAX_JSON_BYTES}",
            text.len()
        )));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(drop)
        .map_err(|e| RunError::Invalid(format!("{what} is not JSON: {e}")))
}

fn check_key(key: &str) -> Result<(), RunError> {
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
        return Err(RunError::Invalid(format!(
            "idempotency key {key:?} must be 1 to {MAX_KEY_CHARS} characters, without control characters"
        )));
    }
    Ok(())
}

/// Event names follow the rule of run function names.
fn check_event_name(name: &str) -> Result<(), RunError> {
    let ok =
        !name.is_empty() && name.len() <= 63 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !ok {
        return Err(RunError::Invalid(format!("event name {name:?} must be 1 to 63 characters of A-Z a-z 0-9 - _ .")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Declares;
    impl RunDirectory for Declares {
        fn run_names(&self, workflow: &str) -> Option<Vec<String>> {
            ["a", "b"].contains(&workflow).then(|| vec!["fulfil".to_owned()])
        }
    }

    #[test]
    fn a_workflow_starts_and_reaches_only_its_own_runs() {
        let db = ::sled::Config::new().temporary(true).open().unwrap();
        let runs = Runs::new(Arc::new(SledRuns::open(&db).unwrap()), Arc::new(Declares));
        let start = |workflow, name| Start { workflow, name, input: "{}", idempotency_key: None };
        let (id, new) = runs.start(&start("a", "fulfil")).unwrap();
        assert!(new);
        let err = runs.start(&start("a", "refund")).unwrap_err().to_string();
        assert_eq!(err, "workflow \"a\" declares no run function \"refund\"");
        assert_eq!(runs.start(&start("c", "fulfil")).unwrap_err().to_string(), "no workflow \"c\" is deployed");
        // Workflow b can't tell a's run from one that doesn't exist.
        let err = runs.send_event(Some("b"), &id, "go", "1").unwrap_err();
        assert!(matches!(&err, RunError::NotFound(m) if *m == format!("no run {id}")), "{err}");
        assert!(runs.send_event(Some("a"), &id, "go", "1").is_ok());
        assert!(matches!(runs.get(Some("b"), &id), Err(RunError::NotFound(_))));
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("done"), None);
        assert!(Status::Cancelled.is_final() && !Status::Waiting.is_final());
    }

    #[test]
    fn inputs_keys_and_event_names_are_checked() {
        assert!(
            matches!(check_json("the input", "{"), Err(RunError::Invalid(m)) if m.starts_with("the input is not JSON"))
        );
        let big = format!("\"{}\"", "x".repeat(MAX_JSON_BYTES));
        assert!(matches!(check_json("the input", &big), Err(RunError::TooLarge(_))));
        assert!(check_key("order-1").is_ok());
        assert!(matches!(check_key(""), Err(RunError::Invalid(_))));
        assert!(check_event_name("approved").is_ok());
        assert!(matches!(check_event_name("a b"), Err(RunError::Invalid(_))));
    }
}
