//! One invocation of a run: what each call of the `steps` interface means,
//! given the run's journal. The guest's code is replayed from the start;
//! entries the journal holds answer at once, and the first one it doesn't
//! runs (a step), or suspends the run (a sleep not due, a wait with no
//! event, a retry not due). A suspension, a lost lease and a
//! non-deterministic run all stop the guest: the host function traps and
//! [`Invocation::end`] says what becomes of the run.

use std::sync::Arc;

use super::{Attempt, Entry, Kind, MAX_ENTRIES, MAX_JOURNAL_BYTES, MAX_JSON_BYTES, Pending, Run, RunStore, Status};
use crate::kv::{CommitError, Journaled, Kv, Staging};
use crate::runtime::LogLine;
use crate::storage::now_ms;

/// How a failing step is retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub attempts: u32,
    pub initial_ms: u64,
    pub factor: f64,
    pub max_ms: u64,
}

impl Retry {
    /// The wait before attempt `next` (2 or more).
    fn delay_ms(&self, next: u32) -> u64 {
        let exponent = i32::try_from(next.saturating_sub(2)).unwrap_or(i32::MAX);
        let delay = self.initial_ms as f64 * self.factor.max(1.0).powi(exponent);
        if delay.is_finite() { (delay as u64).min(self.max_ms) } else { self.max_ms }
    }
}

/// Why the guest must stop now.
#[derive(Debug, Clone, PartialEq)]
pub enum Suspend {
    /// Until the pending entry is due (or an event comes).
    Until(Status),
    /// The run fails, for this reason (non-deterministic, over a limit).
    Fail(String),
    /// The run is no longer this invocation's (cancelled, or taken over).
    LeaseLost,
    /// The store failed; the run is invoked again a little later.
    Unavailable(String),
}

/// What `begin` answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Began {
    Done(Result<String, String>),
    Run(u32),
}

/// A step begun and not ended.
#[derive(Debug)]
struct Open {
    index: u32,
    name: String,
    retry: Retry,
    attempt: u32,
    started_at: u64,
    /// How many log lines the execution had when the attempt started.
    log_mark: usize,
}

/// A run under one invocation.
pub struct Invocation {
    pub run: Run,
    pub lease: String,
    /// The execution the invocation runs as.
    pub execution: String,
    store: Arc<dyn RunStore>,
    kv: Arc<Kv>,
    journal: Vec<Entry>,
    journal_bytes: usize,
    /// The position of the next step, sleep or wait the guest meets.
    next: u32,
    open: Option<Open>,
    /// Set once the guest must stop; see [`Invocation::end`].
    pub stop: Option<Suspend>,
    /// The journal's length when the invocation started.
    replayed: usize,
}

/// Why a `handle-run` call ended without returning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// A `steps` call stopped it (see [`Invocation::stop`]).
    Stopped,
    /// It trapped: a panic, a memory cap, a bad call.
    Trapped(String),
    /// It ran past the workflow's deadline.
    TimedOut(String),
}

/// The guest must stop now: [`Invocation::stop`] says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// A guest call the invocation answered, or [`Stopped`]: the host traps.
pub type Answer<T> = Result<T, Stopped>;

/// Retry delay when the store could not be reached.
const UNAVAILABLE_RETRY_MS: u64 = 5_000;

impl Invocation {
    /// Starts invoking `run`, claimed under `lease`, with its journal.
    pub fn new(
        mut run: Run,
        lease: String,
        execution: String,
        store: Arc<dyn RunStore>,
        kv: Arc<Kv>,
        journal: Vec<Entry>,
    ) -> Invocation {
        run.invocations += 1;
        if run.pending.is_some() {
            // It has been suspended since it last changed.
            let suspended = now_ms().saturating_sub(run.updated_at);
            run.suspended_ms += suspended;
            crate::metrics::global().run_suspended(&run.workflow, std::time::Duration::from_millis(suspended));
        }
        let journal_bytes = journal.iter().map(entry_size).sum();
        let replayed = journal.len();
        Invocation {
            run,
            lease,
            execution,
            store,
            kv,
            journal,
            journal_bytes,
            next: 0,
            open: None,
            stop: None,
            replayed,
        }
    }

    fn halt<T>(&mut self, why: Suspend) -> Answer<T> {
        self.stop.get_or_insert(why);
        Err(Stopped)
    }

    /// The next position, checking the journal holds `kind` `name` there (if
    /// it holds anything) and that the run is within its limits.
    fn position(&mut self, kind: Kind, name: &str) -> Answer<(u32, Option<Entry>)> {
        if let Some(open) = &self.open {
            let why = format!("step {:?} can't run inside step {:?}: steps don't nest", name, open.name);
            return self.halt(Suspend::Fail(why));
        }
        let index = self.next;
        self.next += 1;
        let recorded = self.journal.get(index as usize).map(|e| (e.kind, e.name.clone()));
        let pending = self.run.pending.as_ref().filter(|p| p.index == index).map(|p| (p.kind, p.name.clone()));
        if let Some((was_kind, was_name)) = recorded.or(pending)
            && (was_kind != kind || was_name != name)
        {
            return self.halt(Suspend::Fail(format!(
                "the run is not deterministic: at position {index} it met {} {name:?}, where its journal has {} \
                 {was_name:?}; code outside steps must take the same path on every invocation",
                kind.as_str(),
                was_kind.as_str()
            )));
        }
        if index >= MAX_ENTRIES {
            return self.halt(Suspend::Fail(format!("the run has more than {MAX_ENTRIES} steps, sleeps and waits")));
        }
        Ok((index, self.journal.get(index as usize).cloned()))
    }

    fn pending_at(&self, index: u32) -> Option<&Pending> {
        self.run.pending.as_ref().filter(|p| p.index == index)
    }

    /// Journals `entry` with what `staging` holds, in one commit.
    fn commit(&mut self, entry: Entry, staging: &Staging) -> Answer<Result<(), String>> {
        let text = serde_json::to_string(&entry).expect("an entry serialises");
        if self.journal_bytes + text.len() > MAX_JOURNAL_BYTES {
            return self.halt(Suspend::Fail(format!("the run's journal would pass {MAX_JOURNAL_BYTES} bytes")));
        }
        let journaled = Journaled { run: &self.run.id, lease: &self.lease, index: entry.index, entry: &text };
        match self.kv.commit_step(&self.run.workflow, staging, journaled) {
            Ok(()) => {
                self.journal_bytes += text.len();
                if self.pending_at(entry.index).is_some() {
                    self.run.pending = None;
                }
                self.journal.push(entry);
                Ok(Ok(()))
            }
            Err(CommitError::Conflict(why)) => Ok(Err(why)),
            Err(CommitError::LeaseLost) => self.halt(Suspend::LeaseLost),
            Err(CommitError::Storage(e)) => self.halt(Suspend::Unavailable(e.to_string())),
        }
    }

    /// `steps.begin`: the journaled result, or the attempt to run.
    pub fn begin(&mut self, name: &str, retry: Retry, log_mark: usize) -> Answer<Began> {
        let (index, recorded) = self.position(Kind::Step, name)?;
        if let Some(entry) = recorded {
            return Ok(Began::Done(entry.output.ok_or_else(|| entry.error.unwrap_or_default())));
        }
        let attempt = self.pending_at(index).map_or(0, |p| p.attempts.len() as u32) + 1;
        let started_at = now_ms();
        self.open = Some(Open { index, name: name.to_owned(), retry, attempt, started_at, log_mark });
        Ok(Began::Run(attempt))
    }

    /// The open step's attempts, with this one ended as `error` says.
    fn attempts(&self, open: &Open, error: Option<String>, logs: Vec<LogLine>) -> Vec<Attempt> {
        let mut attempts = self.pending_at(open.index).map(|p| p.attempts.clone()).unwrap_or_default();
        let execution = self.execution.clone();
        attempts.push(Attempt { started_at: open.started_at, ended_at: now_ms(), error, execution, logs });
        attempts
    }

    /// `steps.succeed`: commits the step with `staging`. `Ok(Err)`: its
    /// view went stale; the step stays open to run again.
    pub fn succeed(&mut self, output: String, staging: &Staging, logs: Vec<LogLine>) -> Answer<Result<(), String>> {
        let Some(open) = self.open.take() else {
            return self.halt(Suspend::Fail("steps.succeed was called with no step begun".into()));
        };
        if let Err(why) = check_output(&output) {
            return self.halt(Suspend::Fail(format!("step {:?}: its output {why}", open.name)));
        }
        let entry = Entry {
            index: open.index,
            kind: Kind::Step,
            name: open.name.clone(),
            output: Some(output),
            error: None,
            attempts: self.attempts(&open, None, logs),
            event_seq: None,
            started_at: self.pending_at(open.index).map_or(open.started_at, |p| p.since),
            ended_at: now_ms(),
        };
        let committed = self.commit(entry, staging)?;
        if committed.is_ok() {
            crate::metrics::global().step_attempt(&self.run.workflow, "ok");
        } else {
            self.open = Some(Open { started_at: now_ms(), ..open });
        }
        Ok(committed)
    }

    /// `steps.fail`: retries later (suspending) or journals the failure.
    pub fn fail(&mut self, error: String, permanent: bool, logs: Vec<LogLine>) -> Answer<String> {
        let Some(open) = self.open.take() else {
            return self.halt(Suspend::Fail("steps.fail was called with no step begun".into()));
        };
        let attempts = self.attempts(&open, Some(error.clone()), logs);
        if !permanent && open.attempt < open.retry.attempts {
            let now = now_ms();
            let since = self.pending_at(open.index).map_or(open.started_at, |p| p.since);
            let wake_at = now + open.retry.delay_ms(open.attempt + 1);
            crate::metrics::global().step_attempt(&self.run.workflow, "retrying");
            self.run.pending = Some(Pending {
                index: open.index,
                kind: Kind::Step,
                name: open.name,
                attempts,
                wake_at: Some(wake_at),
                after_seq: 0,
                since,
            });
            return self.halt(Suspend::Until(Status::Retrying));
        }
        let error = if permanent || open.retry.attempts <= 1 {
            error
        } else {
            format!("{error} (after {} attempts)", attempts.len())
        };
        let entry = Entry {
            index: open.index,
            kind: Kind::Step,
            name: open.name.clone(),
            output: None,
            error: Some(error.clone()),
            started_at: self.pending_at(open.index).map_or(open.started_at, |p| p.since),
            attempts,
            event_seq: None,
            ended_at: now_ms(),
        };
        crate::metrics::global().step_attempt(&self.run.workflow, "failed");
        match self.commit(entry, &Staging::default())? {
            Ok(()) => Ok(error),
            // Nothing was staged, so nothing can be stale.
            Err(why) => self.halt(Suspend::Unavailable(why)),
        }
    }

    /// The open step's failed attempt when the guest stopped inside it (a
    /// trap, a timeout): counted against its retries like a returned error.
    fn fail_open(&mut self, why: &str) {
        if self.open.is_some() && self.stop.is_none() {
            let _ = self.fail(why.to_owned(), false, Vec::new());
        }
    }

    /// `steps.sleep-until`: returns once due; until then suspends.
    pub fn sleep_until(&mut self, name: &str, at: u64) -> Answer<()> {
        let (index, recorded) = self.position(Kind::Sleep, name)?;
        if recorded.is_some() {
            return Ok(());
        }
        let now = now_ms();
        let (wake_at, since) = match self.pending_at(index) {
            Some(p) => (p.wake_at.unwrap_or(now), p.since),
            None => (at, now),
        };
        if now < wake_at {
            self.run.pending = Some(Pending {
                index,
                kind: Kind::Sleep,
                name: name.to_owned(),
                attempts: Vec::new(),
                wake_at: Some(wake_at),
                after_seq: 0,
                since,
            });
            return self.halt(Suspend::Until(Status::Sleeping));
        }
        let entry = Entry {
            index,
            kind: Kind::Sleep,
            name: name.to_owned(),
            output: None,
            error: None,
            attempts: Vec::new(),
            event_seq: None,
            started_at: since,
            ended_at: now,
        };
        self.journal_plain(entry)
    }

    /// `steps.wait-event`: the event's payload, none on timeout; until
    /// either, suspends.
    pub fn wait_event(&mut self, name: &str, timeout_ms: Option<u64>) -> Answer<Option<String>> {
        let (index, recorded) = self.position(Kind::Event, name)?;
        if let Some(entry) = recorded {
            return Ok(entry.output);
        }
        let now = now_ms();
        let (deadline, since) = match self.pending_at(index) {
            Some(p) => (p.wake_at, p.since),
            None => (timeout_ms.map(|t| now.saturating_add(t)), now),
        };
        // Events of this name that earlier waits took are not taken again.
        let taken =
            self.journal.iter().filter(|e| e.kind == Kind::Event && e.name == name).filter_map(|e| e.event_seq).max();
        let after_seq = taken.unwrap_or(0);
        let event = match self.store.events(&self.run.id, name) {
            Ok(events) => events.into_iter().find(|e| e.seq > after_seq),
            Err(e) => return self.halt(Suspend::Unavailable(e.to_string())),
        };
        let timed_out = deadline.is_some_and(|d| now >= d);
        if event.is_none() && !timed_out {
            self.run.pending = Some(Pending {
                index,
                kind: Kind::Event,
                name: name.to_owned(),
                attempts: Vec::new(),
                wake_at: deadline,
                after_seq,
                since,
            });
            return self.halt(Suspend::Until(Status::Waiting));
        }
        let payload = event.as_ref().map(|e| e.payload.clone());
        let entry = Entry {
            index,
            kind: Kind::Event,
            name: name.to_owned(),
            output: payload.clone(),
            error: None,
            attempts: Vec::new(),
            event_seq: event.map(|e| e.seq),
            started_at: since,
            ended_at: now,
        };
        self.journal_plain(entry)?;
        Ok(payload)
    }

    /// Journals an entry that writes nothing to KV.
    fn journal_plain(&mut self, entry: Entry) -> Answer<()> {
        match self.commit(entry, &Staging::default())? {
            Ok(()) => Ok(()),
            Err(why) => self.halt(Suspend::Unavailable(why)),
        }
    }

    /// Whether a step is open: KV writes are staged.
    pub fn in_step(&self) -> bool {
        self.open.is_some()
    }

    /// The log mark of the open step.
    pub fn log_mark(&self) -> Option<usize> {
        self.open.as_ref().map(|o| o.log_mark)
    }

    /// What becomes of the run once the guest has stopped: `result` is what
    /// `handle-run` returned, or how the call was cut short. `None`: the run
    /// is no longer this invocation's; write nothing.
    pub fn end(mut self, result: Result<Result<String, String>, Cut>) -> Option<Run> {
        // A trap or timeout inside a step is a failed attempt of it.
        if let Err(Cut::Trapped(why) | Cut::TimedOut(why)) = &result {
            self.fail_open(why);
        }
        // A deadline reached between steps, by a run that journaled some: it
        // goes on from there in a new invocation.
        let progressed = self.journal.len() > self.replayed;
        let now = now_ms();
        let mut run = self.run;
        match self.stop {
            Some(Suspend::LeaseLost) => return None,
            Some(Suspend::Until(status)) => {
                run.due_at = run.pending.as_ref().and_then(|p| p.wake_at);
                run.set_status(status, now);
            }
            Some(Suspend::Unavailable(why)) => {
                tracing::warn!(run = %run.id, "the run's invocation could not reach the store; retrying: {why}");
                run.due_at = Some(now + UNAVAILABLE_RETRY_MS);
                run.set_status(Status::Queued, now);
            }
            Some(Suspend::Fail(why)) => {
                run.set_status(Status::Failed, now);
                run.error = Some(why);
            }
            None => match result {
                Ok(Ok(output)) => match check_output(&output) {
                    Ok(()) => {
                        run.set_status(Status::Completed, now);
                        run.output = Some(output);
                    }
                    Err(why) => {
                        run.set_status(Status::Failed, now);
                        run.error = Some(format!("the run's output {why}"));
                    }
                },
                Ok(Err(error)) => {
                    run.set_status(Status::Failed, now);
                    run.error = Some(error);
                }
                Err(Cut::TimedOut(_)) if progressed => {
                    run.due_at = Some(now);
                    run.set_status(Status::Queued, now);
                }
                Err(Cut::Trapped(why) | Cut::TimedOut(why)) => {
                    run.set_status(Status::Failed, now);
                    run.error = Some(why);
                }
                Err(Cut::Stopped) => {
                    run.set_status(Status::Failed, now);
                    run.error = Some("the run stopped with no reason recorded (a host bug)".into());
                }
            },
        }
        Some(run)
    }
}

fn check_output(output: &str) -> Result<(), String> {
    if output.len() > MAX_JSON_BYTES {
        return Err(format!("is {} bytes of JSON; the most is {MAX_JSON_BYTES}", output.len()));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(output).map(drop).map_err(|e| format!("is not JSON: {e}"))
}

fn entry_size(entry: &Entry) -> usize {
    serde_json::to_string(entry).map_or(0, |t| t.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let retry = Retry { attempts: 5, initial_ms: 1000, factor: 2.0, max_ms: 5000 };
        let delays: Vec<u64> = (2..=6).map(|n| retry.delay_ms(n)).collect();
        assert_eq!(delays, vec![1000, 2000, 4000, 5000, 5000]);
        let wild = Retry { attempts: 99, initial_ms: u64::MAX, factor: f64::MAX, max_ms: 600_000 };
        assert_eq!(wild.delay_ms(90), 600_000);
    }
}
