//! The executor: the one place an execution runs, whatever triggered it.
//! Webhooks, manual invokes and cron ticks are thin callers that say what to
//! call and what to make of its output; the executor owns the rest of an
//! execution's life, in this order:
//!
//! 1. [`admit`](Executor::admit): an id (a UUIDv7) and a start time, then a
//!    slot, or a `rejected` end at once when the host is at capacity
//!    ([`Admission`]);
//! 2. the caller prepares its input: it may [`refuse`](Admitted::refuse) it
//!    (`invalid`), or drop the execution unrecorded (a cron tick that turns
//!    out to have run elsewhere);
//! 3. [`run`](Admitted::run): the call into the runtime, in a task of its
//!    own so a caller that goes away doesn't cut it short;
//! 4. the outcome classified (`completed`, `failed`, `timeout`), the
//!    record kept, the metrics counted and one log line written.
//!
//! Text that comes from the guest (its error message, a trap's message, the
//! reason its output was refused) is cut to the runtime's bound before it is
//! kept, logged or answered.

mod admission;

use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use self::admission::{Admission, Busy, Slot};
use crate::egress::HttpCall;
use crate::executions::{Executions, Record, Status};
use crate::registry::{Deployment, Manifest};
use crate::runs::Invocation;
use crate::runtime::{ExecError, Execution, Export, Job, LogLine, Runtime, cut};
use crate::storage::now_ms;

pub struct Executor {
    runtime: Arc<Runtime>,
    admission: Admission,
    executions: Arc<Executions>,
}

/// An execution that has a slot and has not run yet. Dropping it ends it
/// with no record.
pub struct Admitted<'a> {
    executor: &'a Executor,
    started: Started,
    deployment: Arc<Deployment>,
    slot: Slot,
}

/// An execution turned away at capacity; it is recorded as `rejected`.
#[derive(Debug)]
pub struct Refused {
    pub id: String,
    pub busy: Busy,
}

/// How an execution that ran ended.
#[derive(Debug)]
pub enum Outcome<T> {
    Completed(T),
    Failed(Failure),
    /// Stopped at its deadline, which was this long.
    Timeout(Duration),
}

/// Why an execution failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The guest trapped (a panic, a memory bomb, a bad call): the details
    /// are in the record and the log, never for the caller.
    Trapped,
    /// The guest returned an error; its message is for the caller.
    Error(String),
    /// The guest's output can't be used, for this reason.
    InvalidOutput(String),
}

/// An execution that ran: its id and how it ended.
#[derive(Debug)]
pub struct Ran<T> {
    pub id: String,
    pub outcome: Outcome<T>,
}

/// What the record keeps of an execution's answer, beyond that it
/// completed: for a webhook, the HTTP status the guest answered and, for an
/// error status, the guest's message.
pub trait Answer {
    fn http_status(&self) -> Option<u16> {
        None
    }
    fn error_text(&self) -> Option<String> {
        None
    }
}

/// A manual trigger's output.
impl Answer for serde_json::Value {}

/// A cron tick's.
impl Answer for () {}

/// A durable run's invocation: the run keeps its output.
impl Answer for crate::runtime::RunOutput {}

/// An execution under way: what it is, from the start.
struct Started {
    id: String,
    workflow: String,
    trigger: String,
    started_at: u64,
    clock: Instant,
}

impl Executor {
    /// Runs executions on `runtime`, at most `max_running` at once with at
    /// most `max_waiting` waiting for a slot, keeping their records in
    /// `executions`.
    pub fn new(runtime: Arc<Runtime>, max_running: usize, max_waiting: usize, executions: Arc<Executions>) -> Self {
        Self { runtime, admission: Admission::new(max_running, max_waiting), executions }
    }

    /// Starts an execution of `deployment` for `trigger` (what ran it, e.g.
    /// `webhook POST /users`): waits for a slot, or is refused at once when
    /// every slot is taken and the queue is full.
    pub async fn admit(&self, deployment: Arc<Deployment>, trigger: String) -> Result<Admitted<'_>, Refused> {
        let started = Started {
            id: uuid::Uuid::now_v7().to_string(),
            workflow: deployment.manifest.id.to_string(),
            trigger,
            started_at: now_ms(),
            clock: Instant::now(),
        };
        match self.admission.enter().await {
            Ok(slot) => Ok(Admitted { executor: self, started, deployment, slot }),
            Err(busy) => {
                let id = started.id.clone();
                self.finish(started, Ended::unrun(Status::Rejected, busy.to_string()));
                Err(Refused { id, busy })
            }
        }
    }

    /// Executions one instance of the workflow `manifest` describes serves.
    pub fn instance_reuse(&self, manifest: &Manifest) -> u32 {
        self.runtime.instance_reuse(manifest.instance_reuse)
    }

    /// Executions running now.
    pub fn running(&self) -> usize {
        self.admission.running()
    }

    /// Executions waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.admission.waiting()
    }

    /// Ends an execution: its metrics, its record and its log line.
    fn finish(&self, run: Started, ended: Ended) {
        let Ended { status, http_status, detail, logs, http, run: durable } = ended;
        let took = run.clock.elapsed();
        let detail = detail.map(cut);
        crate::metrics::global().execution(&run.workflow, &run.trigger, status.as_str(), took);
        let (workflow, execution, trigger) = (&run.workflow, &run.id, &run.trigger);
        let answered = http_status.map(|code| format!(" {code}")).unwrap_or_default();
        match &detail {
            None => tracing::info!(%workflow, %execution, ?took, "{trigger}: {}{answered}", status.as_str()),
            Some(detail) => {
                tracing::warn!(%workflow, %execution, ?took, "{trigger}: {}{answered}: {detail}", status.as_str())
            }
        }
        self.executions.keep(&Record {
            id: run.id,
            workflow: run.workflow,
            trigger: run.trigger,
            status,
            started_at: run.started_at,
            duration_ms: took.as_secs_f64() * 1000.0,
            http_status,
            error: detail,
            logs,
            http,
            run: durable,
        });
    }
}

impl Admitted<'_> {
    /// The execution's id.
    pub fn id(&self) -> &str {
        &self.started.id
    }

    /// Ends the execution before the guest runs, as `invalid`: its input
    /// can't be taken, for `reason`. Returns the execution's id.
    pub fn refuse(self, reason: &impl Display) -> String {
        let id = self.started.id.clone();
        self.executor.finish(self.started, Ended::unrun(Status::Invalid, reason.to_string()));
        id
    }

    /// Runs `export` and ends the execution. `accept` turns the guest's
    /// output into the caller's answer, or says why it can't be used.
    pub async fn run<E, T>(self, export: E, accept: impl FnOnce(E::Output) -> Result<T, Failure>) -> Ran<T>
    where
        E: Export + 'static,
        E::Output: 'static,
        T: Answer,
    {
        self.invoke(export, accept, None).await.0
    }

    /// [`run`](Self::run), invoking a durable run: the execution's record
    /// links to it, and the invocation comes back as the guest left it.
    pub async fn invoke<E, T>(
        self,
        export: E,
        accept: impl FnOnce(E::Output) -> Result<T, Failure>,
        invocation: Option<Invocation>,
    ) -> (Ran<T>, Option<Invocation>)
    where
        E: Export + 'static,
        E::Output: 'static,
        T: Answer,
    {
        let Admitted { executor, started, deployment, slot } = self;
        let run_id = invocation.as_ref().map(|i| i.run.id.clone());
        let execution = {
            let (runtime, id) = (executor.runtime.clone(), started.id.clone());
            // A task of its own, so a caller that goes away doesn't cut it short.
            tokio::spawn(async move {
                let _slot = slot;
                let manifest = &deployment.manifest;
                let job = Job {
                    workflow_id: &manifest.id,
                    execution_id: &id,
                    timeout: manifest.timeout(),
                    allowlist: &manifest.allow_http,
                    run: invocation,
                    instance_reuse: manifest.instance_reuse,
                };
                runtime.run(&deployment.workflow, job, &export).await
            })
            .await
        };
        // `secrets`: what the guest's texts are cleaned of below (its log
        // lines were redacted as they came).
        let (outcome, detail, logs, mut http, secrets, invocation) = match execution {
            Ok(Execution { result, run, logs, http, secrets }) => {
                let (outcome, detail) = classify(result.map(accept));
                let detail = match (&outcome, panic_line(&logs)) {
                    (Outcome::Failed(Failure::Trapped), Some(panic)) => {
                        Some(format!("the workflow {panic} ({})", detail.as_deref().unwrap_or("trapped")))
                    }
                    _ => detail,
                };
                (outcome, detail, logs, http, secrets, run)
            }
            Err(join) => {
                let detail = Some(format!("the execution's task failed: {join}"));
                (Outcome::Failed(Failure::Trapped), detail, Vec::new(), Vec::new(), Arc::default(), None)
            }
        };
        let (status, http_status, detail) = match &outcome {
            Outcome::Completed(answer) => (Status::Completed, answer.http_status(), answer.error_text()),
            Outcome::Failed(_) => (Status::Failed, None, detail),
            Outcome::Timeout(_) => (Status::Timeout, None, detail),
        };
        let detail = detail.map(|d| secrets.redact(&d).into_owned());
        for call in &mut http {
            call.error = call.error.take().map(|e| secrets.redact(&e).into_owned());
        }
        let id = started.id.clone();
        executor.finish(started, Ended { status, http_status, detail, logs, http, run: run_id });
        (Ran { id, outcome }, invocation)
    }
}

/// How an execution ended, for its record, metrics and log line.
struct Ended {
    status: Status,
    http_status: Option<u16>,
    detail: Option<String>,
    logs: Vec<LogLine>,
    http: Vec<HttpCall>,
    /// The durable run it invoked.
    run: Option<String>,
}

impl Ended {
    /// An execution that ended before its guest ran, for `reason`.
    fn unrun(status: Status, reason: String) -> Ended {
        Ended { status, http_status: None, detail: Some(reason), logs: Vec::new(), http: Vec::new(), run: None }
    }
}

/// The line the SDK logs when the guest panics, `panicked at FILE:LINE:COL: MESSAGE`.
fn panic_line(logs: &[LogLine]) -> Option<&str> {
    let line = logs.iter().rev().find(|l| l.level == "error" && l.message.starts_with("panicked at "))?;
    Some(&line.message)
}

/// How an execution ended, and the detail for its record and the log.
fn classify<T>(result: Result<Result<T, Failure>, ExecError>) -> (Outcome<T>, Option<String>) {
    match result {
        Ok(Ok(answer)) => (Outcome::Completed(answer), None),
        Ok(Err(failure)) => {
            let failure = match failure {
                Failure::Error(message) => Failure::Error(cut(message)),
                Failure::InvalidOutput(reason) => Failure::InvalidOutput(cut(reason)),
                Failure::Trapped => Failure::Trapped,
            };
            let detail = match &failure {
                Failure::Trapped => "the workflow trapped".to_owned(),
                Failure::Error(message) => format!("the workflow returned an error: {message}"),
                Failure::InvalidOutput(reason) => format!("invalid output: {reason}"),
            };
            (Outcome::Failed(failure), Some(detail))
        }
        Err(ExecError::Timeout(limit)) => (Outcome::Timeout(limit), Some(format!("stopped after {limit:?}"))),
        Err(trap @ ExecError::Trap(_)) => (Outcome::Failed(Failure::Trapped), Some(trap.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::MAX_TEXT_BYTES;

    #[test]
    fn outcomes_are_classified_with_the_detail_for_the_record() {
        let (outcome, detail) = classify::<u8>(Ok(Ok(7)));
        assert!(matches!(outcome, Outcome::Completed(7)) && detail.is_none());

        let (outcome, detail) = classify::<u8>(Ok(Err(Failure::Error("no such table".into()))));
        assert!(matches!(outcome, Outcome::Failed(Failure::Error(_))));
        assert_eq!(detail.unwrap(), "the workflow returned an error: no such table");

        let (_, detail) = classify::<u8>(Ok(Err(Failure::InvalidOutput("its output is not JSON".into()))));
        assert_eq!(detail.unwrap(), "invalid output: its output is not JSON");

        let (outcome, detail) = classify::<u8>(Err(ExecError::Timeout(Duration::from_secs(2))));
        assert!(matches!(outcome, Outcome::Timeout(limit) if limit == Duration::from_secs(2)));
        assert_eq!(detail.unwrap(), "stopped after 2s");

        let (outcome, detail) = classify::<u8>(Err(ExecError::Trap(wasmtime::Error::msg("unreachable"))));
        assert!(matches!(outcome, Outcome::Failed(Failure::Trapped)));
        assert_eq!(detail.unwrap(), "the workflow trapped: unreachable");
    }

    #[test]
    fn a_guest_error_of_any_size_is_cut_to_the_bound() {
        let huge = "é".repeat(5 << 20);
        let (outcome, detail) = classify::<u8>(Ok(Err(Failure::Error(huge))));
        let Outcome::Failed(Failure::Error(message)) = outcome else { panic!("a failure") };
        assert!(message.len() < MAX_TEXT_BYTES + 64, "{} bytes", message.len());
        assert!(message.ends_with("… (cut: 10485760 bytes in all)"), "{}", &message[message.len() - 40..]);
        assert!(detail.unwrap().len() < MAX_TEXT_BYTES + 128);
    }
}
