//! Starting durable runs of this workflow and sending them events, from any
//! handler: [`Runs`] and its [`RunError`].

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::wit::floww::workflow::runs as wit;

/// Starts the workflow's durable runs and sends them events; reached through
/// [`Context::runs`](crate::Context::runs) or
/// [`RunContext::runs`](crate::RunContext::runs). A run belongs to the
/// workflow that started it: these calls reach only its own runs.
///
/// ```no_run
/// # fn run(ctx: &floww::Context) -> floww::Result<()> {
/// use serde_json::json;
///
/// let run_id = ctx.runs.start("fulfil", &json!({"orderId": "o-1"}), Some("o-1"))?;
/// ctx.runs.send_event(&run_id, "approved", &json!({"by": "alice"}))?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Runs {
    _private: (),
}

impl Runs {
    /// Only the SDK makes one, for the contexts it passes to handlers.
    pub(crate) fn new() -> Self {
        Runs { _private: () }
    }

    /// Starts run function `name` (a `run "name" => f` entry of
    /// [`workflow!`](crate::workflow!)) with `input`, serialized to JSON, and
    /// returns the new run's id at once: the run goes on in the background.
    ///
    /// With an `idempotency_key`, a second start with the same key (for the
    /// same run function) starts nothing and returns the first run's id, so a
    /// request sent twice starts one run. Keys follow the KV's key rules,
    /// `[A-Za-z0-9_.:@-]{1,255}`.
    ///
    /// A name the workflow doesn't declare is [`RunError::NotFound`]; input
    /// that serde can't serialize is [`RunError::InvalidInput`]; input over
    /// 1 MiB is [`RunError::TooLarge`]. From a run, pass a key: code outside
    /// steps runs again on every replay, and a step may run more than once.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> floww::Result<()> {
    /// let first = ctx.runs.start("nightly-export", &serde_json::json!({}), Some("2024-06-01"))?;
    /// let again = ctx.runs.start("nightly-export", &serde_json::json!({}), Some("2024-06-01"))?;
    /// assert_eq!(first, again);
    /// # Ok(()) }
    /// ```
    pub fn start<I: Serialize + ?Sized>(
        &self,
        name: &str,
        input: &I,
        idempotency_key: Option<&str>,
    ) -> Result<String, RunError> {
        let input = encode(input, "input")?;
        Ok(wit::start(name, &input, idempotency_key)?)
    }

    /// Run `run_id` of this workflow as it stands: its status, output or
    /// error, and how far each step, sleep and wait got. An unknown run (or
    /// another workflow's) is [`RunError::NotFound`].
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context, run_id: &str) -> floww::Result<()> {
    /// let run = ctx.runs.get(run_id)?;
    /// if run.status == "completed" {
    ///     floww::info!("done after {} steps", run.steps.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get(&self, run_id: &str) -> Result<RunInfo, RunError> {
        let info = wit::get(run_id)?;
        Ok(RunInfo {
            status: info.status,
            // The host keeps only JSON text.
            output: info.output.map(|o| serde_json::from_str(&o).unwrap_or(serde_json::Value::String(o))),
            error: info.error,
            steps: info
                .steps
                .into_iter()
                .map(|s| StepInfo {
                    kind: s.kind,
                    name: s.name,
                    status: s.status,
                    attempts: s.attempts,
                    error: s.error,
                })
                .collect(),
        })
    }

    /// Sends event `name` with `payload`, serialized to JSON, to run `run_id`
    /// of this workflow. The run receives it when it
    /// [waits](crate::RunContext::wait_for_event) for `name`, whether it waits
    /// already or only later.
    ///
    /// An unknown run is [`RunError::NotFound`]; a run that has ended is
    /// [`RunError::Conflict`].
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context, run_id: &str) -> floww::Result<()> {
    /// ctx.runs.send_event(run_id, "approved", &true)?;
    /// # Ok(()) }
    /// ```
    pub fn send_event<P: Serialize + ?Sized>(&self, run_id: &str, name: &str, payload: &P) -> Result<(), RunError> {
        let payload = encode(payload, "payload")?;
        Ok(wit::send_event(run_id, name, &payload)?)
    }
}

/// `value` as JSON text; what could not be serialized is invalid input.
fn encode<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<String, RunError> {
    serde_json::to_string(value)
        .map_err(|e| RunError::InvalidInput(format!("the {what} cannot be serialized to JSON: {e}")))
}

/// A run as [`Runs::get`] finds it; serializes to JSON as the admin API
/// shows a run (camelCase), so a handler can answer with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RunInfo {
    /// `queued`, `running`, `sleeping`, `waiting`, `retrying`, `completed`,
    /// `failed` or `cancelled`.
    pub status: String,
    /// The run's output, once it completed.
    pub output: Option<serde_json::Value>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// Its steps, sleeps and waits in order, the one it is suspended in last.
    pub steps: Vec<StepInfo>,
}

/// One step, sleep or wait of a [`RunInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StepInfo {
    /// `step`, `sleep` or `event`.
    pub kind: String,
    /// The name the run gave it.
    pub name: String,
    /// `completed` or `failed`; for the entry the run is suspended in, the
    /// run's status.
    pub status: String,
    /// Attempts so far (0 for sleeps and waits).
    pub attempts: u32,
    /// The error it failed with for good, or its last attempt's.
    pub error: Option<String>,
}

/// Why starting a run or sending it an event failed. Each case carries a
/// message meant for people.
///
/// [`status_code`](RunError::status_code) gives the matching HTTP status, and
/// `?` in a handler turns a `RunError` into a [`floww::Error`](crate::Error)
/// with that status and message.
///
/// ```no_run
/// # fn run(ctx: &floww::Context, run_id: &str) -> floww::Result<()> {
/// use floww::RunError;
///
/// match ctx.runs.send_event(run_id, "approved", &true) {
///     Ok(()) => {}
///     Err(RunError::Conflict(_)) => floww::info!("run {run_id} has ended already"),
///     Err(other) => return Err(other.into()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// No such run, or the workflow declares no run function of that name (404).
    NotFound(String),
    /// A bad name, key or payload (400).
    InvalidInput(String),
    /// The input or payload is larger than 1 MiB (413).
    TooLarge(String),
    /// The run has ended: it takes no more events (409).
    Conflict(String),
    /// The host failed (500).
    Internal(String),
    /// The store can't be reached just now (503): retrying later may succeed.
    Unavailable(String),
}

impl RunError {
    /// The HTTP status matching the error: 404, 400, 413, 409, 500 or 503.
    ///
    /// ```no_run
    /// assert_eq!(floww::RunError::NotFound("no run r-1".into()).status_code(), 404);
    /// ```
    pub fn status_code(&self) -> u16 {
        match self {
            RunError::NotFound(_) => 404,
            RunError::InvalidInput(_) => 400,
            RunError::TooLarge(_) => 413,
            RunError::Conflict(_) => 409,
            RunError::Internal(_) => 500,
            RunError::Unavailable(_) => 503,
        }
    }

    /// The message, as the host (or, for input serde can't serialize, the SDK)
    /// wrote it.
    ///
    /// ```no_run
    /// assert_eq!(floww::RunError::Conflict("the run has ended".into()).message(), "the run has ended");
    /// ```
    pub fn message(&self) -> &str {
        match self {
            RunError::NotFound(msg)
            | RunError::InvalidInput(msg)
            | RunError::TooLarge(msg)
            | RunError::Conflict(msg)
            | RunError::Internal(msg)
            | RunError::Unavailable(msg) => msg,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for RunError {}

impl From<wit::RunError> for RunError {
    fn from(err: wit::RunError) -> Self {
        match err {
            wit::RunError::NotFound(msg) => RunError::NotFound(msg),
            wit::RunError::InvalidInput(msg) => RunError::InvalidInput(msg),
            wit::RunError::TooLarge(msg) => RunError::TooLarge(msg),
            wit::RunError::Conflict(msg) => RunError::Conflict(msg),
            wit::RunError::Internal(msg) => RunError::Internal(msg),
            wit::RunError::Unavailable(msg) => RunError::Unavailable(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wit_case_keeps_its_message_and_gets_its_status() {
        let cases = [
            (wit::RunError::NotFound("m".into()), 404),
            (wit::RunError::InvalidInput("m".into()), 400),
            (wit::RunError::TooLarge("m".into()), 413),
            (wit::RunError::Conflict("m".into()), 409),
            (wit::RunError::Internal("m".into()), 500),
            (wit::RunError::Unavailable("m".into()), 503),
        ];
        for (from, status) in cases {
            let err = RunError::from(from);
            assert_eq!((err.status_code(), err.message(), err.to_string().as_str()), (status, "m", "m"));
        }
    }

    #[test]
    fn what_serde_cannot_serialize_is_invalid_input() {
        assert_eq!(encode(&serde_json::json!({"a": 1}), "input"), Ok(r#"{"a":1}"#.to_owned()));
        let unserializable: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = encode(&unserializable, "payload").unwrap_err();
        assert_eq!(err.status_code(), 400);
        assert!(err.message().starts_with("the payload cannot be serialized to JSON"), "{err}");
    }
}
