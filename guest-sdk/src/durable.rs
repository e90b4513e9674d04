//! Durable runs from the inside: the run functions a workflow declares
//! (`run "name" => f` in [`workflow!`](crate::workflow!)), the
//! [`RunContext`] they get, and its steps, sleeps and waits, which the host
//! journals so that a run outlives failures and restarts.

use core::cell::Cell;
use core::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::named::{self, Named};
use crate::wit::floww::workflow::steps as wit;
use crate::{Error, Kv, Result, Runs, millis};

/// What a run function receives besides its input: its access to the host,
/// and the run's journal.
///
/// The host calls the run function again after every suspension (a sleep, a
/// wait for an event, a retry, a restart of the host), from the top. Steps
/// that finished before return their journaled result without running, so a
/// replay gets back to where it was. Hence:
///
/// - **Code outside steps runs on every replay**, and must be deterministic:
///   meet the same steps, sleeps and waits, with the same names, in the same
///   order, or the run fails as non-deterministic. Make decisions on step
///   outputs and the input, not on the clock, random numbers or KV reads
///   outside steps.
/// - **A step's KV writes commit with its journaled result**, in one
///   transaction, exactly once: a failed attempt leaves none behind. Reads in
///   a step see its own writes. Granting, revoking and dropping tables are
///   refused inside a step.
/// - **KV reads outside steps see the live data**, which may have changed
///   since the last replay; writes outside steps happen again on every replay.
///
/// ```no_run
/// use std::time::Duration;
/// use floww::{Result, RunContext};
/// use serde_json::{Value, json};
///
/// fn onboard(ctx: &RunContext, input: Value) -> Result<Value> {
///     let user = input["user"].as_str().unwrap_or_default().to_owned();
///     ctx.step("welcome", || {
///         ctx.kv.set("users", &user, &json!({"welcomed": true}))?;
///         Ok(())
///     })?;
///     ctx.sleep("a-day-later", Duration::from_secs(24 * 60 * 60));
///     let answered: Option<Value> = ctx.wait_for_event("survey", Some(Duration::from_secs(7 * 24 * 60 * 60)))?;
///     Ok(json!({ "answered": answered.is_some() }))
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct RunContext {
    /// The key-value store, acting as the running workflow: staged within a
    /// step, live outside.
    pub kv: Kv,
    /// Starts this workflow's runs and sends them events.
    pub runs: Runs,
    /// The attempt of the step running now; 0 outside steps.
    attempt: Cell<u32>,
}

/// How often a step runs again when its result can't be committed because
/// an item it used changed meanwhile, before that counts as a failed attempt.
const CONFLICT_RUNS: u32 = 10;

impl RunContext {
    pub(crate) fn new() -> Self {
        RunContext { kv: Kv::new(), runs: Runs::new(), attempt: Cell::new(0) }
    }

    /// The value of this workflow's secret `name`, as
    /// [`Context::secret`](crate::Context::secret) gives it.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::RunContext) -> floww::Result<()> {
    /// let key = ctx.secret("PAYMENT_API_KEY")?;
    /// # Ok(()) }
    /// ```
    pub fn secret(&self, name: &str) -> Result<String> {
        crate::workflow::secret(name)
    }

    /// Runs `f` as step `name`, once, retrying it as [`Retry::default`] says:
    /// see [`step_with`](RunContext::step_with).
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::RunContext) -> floww::Result<()> {
    /// let reserved: i64 = ctx.step("reserve", || Ok(ctx.kv.increment("stock", "apples", -1)?))?;
    /// # Ok(()) }
    /// ```
    pub fn step<T: Serialize + DeserializeOwned>(&self, name: &str, f: impl FnMut() -> Result<T>) -> Result<T> {
        self.step_with(name, Retry::default(), f)
    }

    /// Runs `f` as step `name` and journals its output (as JSON), so that it
    /// runs once: on every later replay the step returns that output without
    /// running. A step that failed for good returns its error again.
    ///
    /// `f`'s KV writes commit with the output, atomically; if an item it read
    /// or wrote changed meanwhile, nothing is kept and `f` runs again at once
    /// (up to 10 times, then that counts as a failed attempt). When `f`
    /// fails, its writes are dropped and the run sleeps until `retry` says to
    /// try again, unless the error is [permanent](Error::permanent) or the
    /// attempts are used up: then the step fails for good with that error's
    /// message. [`attempt`](RunContext::attempt) says which attempt runs.
    ///
    /// Anything else `f` does (HTTP calls, say) happens once per attempt, so
    /// it may happen more than once in all.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::RunContext) -> floww::Result<()> {
    /// use std::time::Duration;
    /// use floww::{Error, Retry};
    ///
    /// let retry = Retry { attempts: 3, initial: Duration::from_secs(5), ..Retry::default() };
    /// let receipt: String = ctx.step_with("charge", retry, || {
    ///     floww::info!("charging, attempt {}", ctx.attempt());
    ///     Err(Error::new(502, "the payment gateway timed out"))
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn step_with<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        retry: Retry,
        f: impl FnMut() -> Result<T>,
    ) -> Result<T> {
        self.step_in(&HostJournal, name, retry, f)
    }

    /// [`step_with`](RunContext::step_with) on `journal`.
    fn step_in<T: Serialize + DeserializeOwned>(
        &self,
        journal: &impl Journal,
        name: &str,
        retry: Retry,
        mut f: impl FnMut() -> Result<T>,
    ) -> Result<T> {
        let attempt = match journal.begin(name, retry.into()) {
            wit::Began::Done(Ok(output)) => {
                return serde_json::from_str(&output).map_err(|e| {
                    Error::new(500, format!("step {name}: its journaled output does not fit the type: {e}"))
                });
            }
            wit::Began::Done(Err(message)) => return Err(Error::new(500, message)),
            wit::Began::Run(attempt) => attempt,
        };
        let outer = self.attempt.replace(attempt);
        let result = attempt_step(journal, name, &mut f);
        self.attempt.set(outer);
        result
    }

    /// This run's id: hand it to whoever is to send it an event
    /// ([`Runs::send_event`], or `POST /api/runs/{id}/events/{name}`).
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::RunContext) -> floww::Result<()> {
    /// let id = ctx.run_id();
    /// ctx.step("ask", || {
    ///     ctx.kv.set("approvals", &id, &"pending")?;
    ///     Ok(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn run_id(&self) -> String {
        wit::run_id()
    }

    /// Which attempt of the current step this is, counting from 1; 0 outside
    /// a step.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::RunContext) -> floww::Result<()> {
    /// ctx.step("notify", || {
    ///     floww::info!("notifying, attempt {}", ctx.attempt());
    ///     Ok(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt.get()
    }

    /// Sleeps for `duration`, durably: the run is suspended (it holds no
    /// instance meanwhile) and resumes once the time is up, even after a
    /// restart of the host. The end is fixed the first time the run gets
    /// here; replays after it return at once.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::RunContext) {
    /// ctx.sleep("cool-off", std::time::Duration::from_secs(60));
    /// # }
    /// ```
    pub fn sleep(&self, name: &str, duration: Duration) {
        wit::sleep_until(name, since_epoch(SystemTime::now()).saturating_add(millis(duration)));
    }

    /// Sleeps until `at`, durably, as [`sleep`](RunContext::sleep) does; a
    /// time in the past returns at once.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::RunContext) {
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// ctx.sleep_until("new-year", UNIX_EPOCH + Duration::from_secs(1_767_225_600));
    /// # }
    /// ```
    pub fn sleep_until(&self, name: &str, at: SystemTime) {
        wit::sleep_until(name, since_epoch(at));
    }

    /// Waits, durably, for event `name`
    /// ([`Runs::send_event`](crate::Runs::send_event), or the admin API) and
    /// returns its payload deserialized into `T`; `None` once `timeout` (from
    /// the first time the run gets here) has passed. Meanwhile the run is
    /// suspended. An event sent before the run waits is kept for it.
    ///
    /// A payload that is not a `T` is an [`Error`] (400) naming the event.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::RunContext) -> floww::Result<()> {
    /// use std::time::Duration;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Approval { by: String }
    ///
    /// match ctx.wait_for_event::<Approval>("approved", Some(Duration::from_secs(3600)))? {
    ///     Some(approval) => floww::info!("approved by {}", approval.by),
    ///     None => floww::info!("nobody approved within an hour"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn wait_for_event<T: DeserializeOwned>(&self, name: &str, timeout: Option<Duration>) -> Result<Option<T>> {
        wit::wait_event(name, timeout.map(millis)).map(|payload| decode_event(name, &payload)).transpose()
    }
}

/// Runs a begun step's attempt: `f`, again after a conflict, then journals
/// its output or its failure.
fn attempt_step<T: Serialize>(journal: &impl Journal, name: &str, f: &mut impl FnMut() -> Result<T>) -> Result<T> {
    let mut runs = 0;
    let error = loop {
        runs += 1;
        let value = match f() {
            Ok(value) => value,
            Err(error) => break error,
        };
        let output = match serde_json::to_string(&value) {
            Ok(output) => output,
            Err(e) => break Error::permanent(format!("step {name}: its output could not be made JSON: {e}")),
        };
        match journal.succeed(&output) {
            Ok(()) => return Ok(value),
            Err(_) if runs < CONFLICT_RUNS => {}
            Err(conflict) => break Error::conflict(conflict),
        }
    };
    // While the step may be retried, the host suspends the run here.
    let message = journal.fail(error.message(), error.is_permanent());
    // A 500, as the replay of the failure answers: the journal keeps no status.
    Err(Error::new(500, message))
}

/// A time in ms since the Unix epoch, as the host takes it (0 before it).
fn since_epoch(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// An event's payload as a `T`, or a 400 naming the event.
fn decode_event<T: DeserializeOwned>(name: &str, payload: &str) -> Result<T> {
    serde_json::from_str(payload).map_err(|e| Error::bad_request(format!("event {name}: {e}")))
}

/// The part of the run's journal a step uses: the host's, or a fake in tests.
trait Journal {
    fn begin(&self, name: &str, retry: wit::Retry) -> wit::Began;
    fn succeed(&self, output: &str) -> core::result::Result<(), String>;
    fn fail(&self, error: &str, permanent: bool) -> String;
}

/// The host's journal of the run being invoked.
struct HostJournal;

impl Journal for HostJournal {
    fn begin(&self, name: &str, retry: wit::Retry) -> wit::Began {
        wit::begin(name, retry)
    }

    fn succeed(&self, output: &str) -> core::result::Result<(), String> {
        wit::succeed(output)
    }

    fn fail(&self, error: &str, permanent: bool) -> String {
        wit::fail(error, permanent)
    }
}

/// How a failing [step](RunContext::step_with) is retried: `attempts` in all
/// (the first one included), the first retry `initial` after the failure, each
/// next one `factor` times as long after the one before, but never more than
/// `max`. Times are whole milliseconds. The run holds no instance while it
/// waits.
///
/// The default is 5 attempts, 1 s apart, then 2 s, 4 s and 8 s (at most 10
/// minutes apart); [`Retry::none`] tries once.
///
/// ```no_run
/// use std::time::Duration;
/// use floww::Retry;
///
/// // 10 attempts, 200 ms, 300 ms, 450 ms… apart, never more than 5 s.
/// let patient = Retry {
///     attempts: 10,
///     initial: Duration::from_millis(200),
///     factor: 1.5,
///     max: Duration::from_secs(5),
/// };
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// How many attempts in all, the first one included; 1 retries nothing.
    pub attempts: u32,
    /// How long after the first failure the second attempt runs.
    pub initial: Duration,
    /// How much longer each next wait is than the one before.
    pub factor: f64,
    /// The longest wait between two attempts.
    pub max: Duration,
}

impl Retry {
    /// One attempt: a failure is final.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::RunContext) -> floww::Result<()> {
    /// ctx.step_with("send-once", floww::Retry::none(), || Ok(()))?;
    /// # Ok(()) }
    /// ```
    pub fn none() -> Self {
        Retry { attempts: 1, ..Retry::default() }
    }
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 5, initial: Duration::from_secs(1), factor: 2.0, max: Duration::from_secs(10 * 60) }
    }
}

impl From<Retry> for wit::Retry {
    fn from(retry: Retry) -> Self {
        wit::Retry {
            attempts: retry.attempts,
            initial_ms: millis(retry.initial),
            factor: retry.factor,
            max_ms: millis(retry.max),
        }
    }
}

/// The signature of a run function, as [`workflow!`](crate::workflow!) expects it.
///
/// The input is deserialized from the JSON the run was started with, and the
/// output serialized to JSON as the run's result. Both default to
/// [`serde_json::Value`]; any `Deserialize` input and `Serialize` output work.
/// An `Err(error)` fails the run with the error's message.
///
/// ```no_run
/// use floww::{Result, RunContext, RunHandler};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct Order { id: String }
///
/// #[derive(Serialize)]
/// struct Shipped { id: String }
///
/// fn ship(ctx: &RunContext, order: Order) -> Result<Shipped> {
///     ctx.step("ship", || Ok(ctx.kv.set("shipped", &order.id, &true)?))?;
///     Ok(Shipped { id: order.id })
/// }
///
/// let typed: RunHandler<Order, Shipped> = ship;
/// ```
pub type RunHandler<I = serde_json::Value, O = serde_json::Value> = fn(&RunContext, I) -> Result<O>;

/// A run function once the macro has wrapped it: JSON text in and out.
#[doc(hidden)]
pub type RawRunHandler = fn(&RunContext, &str) -> Result<String>;

/// One `run` entry of a [`workflow!`](crate::workflow!): its name and wrapped function.
#[doc(hidden)]
pub type Run = Named<RawRunHandler>;

impl Run {
    /// Checked at compile time, as the macro builds its entries in a `const`.
    pub const fn new(name: &'static str, run: RawRunHandler) -> Run {
        Named::checked(
            name,
            run,
            "a run function name must match [a-z0-9][a-z0-9-]* and be at most 63 characters, e.g. \"fulfil\"",
        )
    }
}

/// Fails compilation (the macro calls it in a `const`) when two run entries
/// share a name.
#[doc(hidden)]
pub const fn check_runs(runs: &[Run]) {
    named::check_unique(runs, "two run functions in `floww::workflow!` have the same name");
}

/// Runs a typed run function on JSON text: what the macro wraps each in.
#[doc(hidden)]
pub fn run_durable<I: DeserializeOwned, O: Serialize>(
    ctx: &RunContext,
    input: &str,
    handler: RunHandler<I, O>,
) -> Result<String> {
    named::call_json(ctx, input, handler, "input")
}

/// The exported `run-names`.
#[doc(hidden)]
pub fn run_names(runs: &[Run]) -> Vec<String> {
    runs.iter().map(|run| run.name.to_owned()).collect()
}

/// The exported `handle-run`.
#[doc(hidden)]
pub fn handle_run(runs: &[Run], name: &str, input: &str) -> core::result::Result<String, String> {
    crate::log::report_panics();
    let Some(run) = named::find(runs, name) else {
        return Err(format!("this workflow has no run function {name}"));
    };
    run(&RunContext::new(), input).map_err(|error| error.message().to_owned())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::*;

    /// A journal that answers `begin` with `began` and each `succeed` with
    /// the next of `succeeds` (then Ok), and records the calls.
    struct Fake {
        began: wit::Began,
        succeeds: RefCell<Vec<core::result::Result<(), String>>>,
        calls: RefCell<Vec<String>>,
    }

    fn fake(began: wit::Began, succeeds: Vec<core::result::Result<(), String>>) -> Fake {
        Fake { began, succeeds: RefCell::new(succeeds), calls: RefCell::new(Vec::new()) }
    }

    impl Journal for Fake {
        fn begin(&self, name: &str, retry: wit::Retry) -> wit::Began {
            self.calls.borrow_mut().push(format!("begin {name} {}", retry.attempts));
            self.began.clone()
        }

        fn succeed(&self, output: &str) -> core::result::Result<(), String> {
            self.calls.borrow_mut().push(format!("succeed {output}"));
            let mut succeeds = self.succeeds.borrow_mut();
            if succeeds.is_empty() { Ok(()) } else { succeeds.remove(0) }
        }

        fn fail(&self, error: &str, permanent: bool) -> String {
            self.calls.borrow_mut().push(format!("fail {error} {permanent}"));
            format!("journaled: {error}")
        }
    }

    #[test]
    fn a_journaled_step_returns_its_output_without_running() {
        let ctx = RunContext::new();
        let journal = fake(wit::Began::Done(Ok("[1,2]".into())), vec![]);
        let out: Vec<u8> = ctx.step_in(&journal, "s", Retry::default(), || panic!("ran")).unwrap();
        assert_eq!(out, [1, 2]);
        let err = ctx.step_in::<String>(&journal, "s", Retry::default(), || panic!("ran")).unwrap_err();
        assert_eq!(err.status(), 500);
        assert!(err.message().starts_with("step s: its journaled output does not fit the type"), "{err}");
        let failed = fake(wit::Began::Done(Err("card declined".into())), vec![]);
        let err = ctx.step_in::<()>(&failed, "s", Retry::none(), || panic!("ran")).unwrap_err();
        assert_eq!((err.status(), err.message()), (500, "card declined"));
    }

    #[test]
    fn a_step_that_runs_journals_its_output_and_knows_its_attempt() {
        let ctx = RunContext::new();
        let journal = fake(wit::Began::Run(3), vec![]);
        let out = ctx.step_in(&journal, "s", Retry::default(), || Ok(json!({"attempt": ctx.attempt()}))).unwrap();
        assert_eq!(out, json!({"attempt": 3}));
        assert_eq!(*journal.calls.borrow(), ["begin s 5", r#"succeed {"attempt":3}"#]);
        assert_eq!(ctx.attempt(), 0, "outside the step again");
    }

    #[test]
    fn a_conflict_runs_the_step_again_ten_times_at_most() {
        let ctx = RunContext::new();
        let journal = fake(wit::Began::Run(1), vec![Err("changed".into()), Err("changed".into())]);
        let mut runs = 0;
        let run = || {
            runs += 1;
            Ok(runs)
        };
        assert_eq!(ctx.step_in(&journal, "s", Retry::default(), run), Ok(3));

        let journal = fake(wit::Began::Run(1), vec![Err("changed".into()); 10]);
        let mut runs = 0;
        let run = || {
            runs += 1;
            Ok(runs)
        };
        let err = ctx.step_in(&journal, "s", Retry::default(), run).unwrap_err();
        assert_eq!((runs, err.status(), err.message()), (10, 500, "journaled: changed"));
        assert_eq!(journal.calls.borrow().last().unwrap(), "fail changed false");
    }

    #[test]
    fn a_failing_step_journals_the_failure_and_says_if_it_is_permanent() {
        let ctx = RunContext::new();
        let journal = fake(wit::Began::Run(1), vec![]);
        let err = ctx.step_in::<()>(&journal, "s", Retry::default(), || Err(Error::new(502, "timeout"))).unwrap_err();
        assert_eq!((err.status(), err.message()), (500, "journaled: timeout"));
        let err = ctx.step_in::<()>(&journal, "s", Retry::default(), || Err(Error::permanent("declined"))).unwrap_err();
        assert_eq!(err.message(), "journaled: declined");
        assert_eq!(journal.calls.borrow()[1..], ["fail timeout false", "begin s 5", "fail declined true"]);
    }

    #[test]
    fn retry_converts_to_whole_milliseconds() {
        let retry = wit::Retry::from(Retry::default());
        assert_eq!((retry.attempts, retry.initial_ms, retry.factor, retry.max_ms), (5, 1000, 2.0, 600_000));
        assert_eq!(Retry::none().attempts, 1);
    }

    #[test]
    fn events_and_times_convert() {
        assert_eq!(decode_event::<u8>("n", "7"), Ok(7));
        let err = decode_event::<u8>("approved", r#""yes""#).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.message().starts_with("event approved: invalid type"), "{err}");
        assert_eq!(since_epoch(UNIX_EPOCH + Duration::from_micros(1_500)), 1);
        assert_eq!(since_epoch(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }

    fn echo(_ctx: &RunContext, input: Value) -> Result<Value> {
        Ok(json!({ "echo": input }))
    }

    #[derive(Deserialize)]
    struct Fail {
        message: String,
    }

    fn fail(_ctx: &RunContext, input: Fail) -> Result<()> {
        Err(Error::new(503, input.message))
    }

    const RUNS: &[Run] = &[
        Run::new("echo", |ctx, input| run_durable(ctx, input, echo)),
        Run::new("fail", |ctx, input| run_durable(ctx, input, fail)),
    ];
    const _: () = check_runs(RUNS);

    #[test]
    fn runs_are_listed_and_dispatched_by_name() {
        assert_eq!(run_names(RUNS), ["echo", "fail"]);
        assert_eq!(handle_run(RUNS, "echo", "[1]").unwrap(), r#"{"echo":[1]}"#);
        assert_eq!(handle_run(RUNS, "fail", r#"{"message": "gave up"}"#).unwrap_err(), "gave up");
        let shape = handle_run(RUNS, "fail", "{}").unwrap_err();
        assert!(shape.starts_with("input: missing field `message`"), "{shape}");
        assert_eq!(handle_run(RUNS, "nope", "{}").unwrap_err(), "this workflow has no run function nope");
    }

    #[test]
    fn run_names_are_checked() {
        let bad = || Run::new("Fulfil", |ctx, input| run_durable(ctx, input, echo));
        assert!(std::panic::catch_unwind(bad).is_err());
        let dup = [Run::new("a", |ctx, input| run_durable(ctx, input, echo)); 2];
        assert!(std::panic::catch_unwind(|| check_runs(&dup)).is_err());
    }
}
