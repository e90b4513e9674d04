//! Cron triggers: the event a cron handler receives, and the dispatch of a
//! tick to the handler declared for its schedule.

use crate::wit::exports::floww::workflow::handler as wit;
use crate::{Context, Result};

/// One tick of a cron trigger, as its handler receives it.
///
/// The host runs each tick at most once, even across restarts; ticks that
/// fall while the host is down (or while the previous tick of the same
/// schedule is still running) are skipped, not made up for later. Times are
/// milliseconds since the Unix epoch, in UTC.
///
/// ```no_run
/// use floww::{Context, CronEvent, Result};
///
/// fn tick(ctx: &Context, event: CronEvent) -> Result<()> {
///     let late_ms = event.fired_at - event.scheduled_at;
///     ctx.kv.set("ticks", &event.scheduled_at.to_string(), &late_ms)?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CronEvent {
    /// The schedule as the trigger declares it, e.g. `"*/5 * * * * *"`.
    pub schedule: String,
    /// The tick this execution is for: a time the schedule names.
    pub scheduled_at: u64,
    /// When the host started this execution; at or a little after `scheduled_at`.
    pub fired_at: u64,
}

impl CronEvent {
    /// An event, for calling a cron handler from a unit test.
    ///
    /// ```no_run
    /// let event = floww::CronEvent::new("0 * * * *", 1_700_000_000_000, 1_700_000_000_004);
    /// assert_eq!(event.scheduled_at, 1_700_000_000_000);
    /// ```
    pub fn new(schedule: impl Into<String>, scheduled_at: u64, fired_at: u64) -> Self {
        CronEvent { schedule: schedule.into(), scheduled_at, fired_at }
    }
}

impl From<wit::CronEvent> for CronEvent {
    fn from(event: wit::CronEvent) -> Self {
        CronEvent { schedule: event.schedule, scheduled_at: event.scheduled_at, fired_at: event.fired_at }
    }
}

/// The signature of a cron handler, as [`workflow!`](crate::workflow!) expects it.
///
/// An `Err` is written to the host's log with the execution id; there is no
/// caller to answer.
///
/// ```no_run
/// fn nightly(_ctx: &floww::Context, event: floww::CronEvent) -> floww::Result<()> {
///     floww::info!("nightly run for {}", event.scheduled_at);
///     Ok(())
/// }
///
/// let handler: floww::CronHandler = nightly;
/// ```
pub type CronHandler = fn(&Context, CronEvent) -> Result<()>;

/// One `cron` entry of a [`workflow!`](crate::workflow!): a schedule and its handler.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Cron {
    pub(crate) schedule: &'static str,
    handler: CronHandler,
}

impl Cron {
    /// Checked at compile time, as the macro builds its entries in a `const`.
    /// The host checks the expression itself when the workflow is deployed.
    pub const fn new(schedule: &'static str, handler: CronHandler) -> Cron {
        let bytes = schedule.as_bytes();
        assert!(
            !bytes.is_empty() && !bytes[0].is_ascii_whitespace() && !bytes[bytes.len() - 1].is_ascii_whitespace(),
            "a cron schedule must be a cron expression without surrounding spaces, e.g. \"*/5 * * * *\""
        );
        Cron { schedule, handler }
    }
}

/// Fails compilation (the macro calls it in a `const`) when two cron entries
/// have the same schedule: the host keeps one record of fired ticks per schedule.
#[doc(hidden)]
pub const fn check_crons(crons: &[Cron]) {
    let mut i = 0;
    while i < crons.len() {
        let mut j = i + 1;
        while j < crons.len() {
            assert!(
                !crate::workflow::str_eq(crons[i].schedule, crons[j].schedule),
                "two cron handlers in `floww::workflow!` have the same schedule; call both from one handler"
            );
            j += 1;
        }
        i += 1;
    }
}

/// The exported `handle-cron`.
#[doc(hidden)]
pub fn handle_cron(crons: &[Cron], event: wit::CronEvent) -> core::result::Result<(), String> {
    crate::log::report_panics();
    dispatch(crons, CronEvent::from(event))
}

/// Runs the handler declared for the event's schedule; its error becomes the message.
fn dispatch(crons: &[Cron], event: CronEvent) -> core::result::Result<(), String> {
    let Some(cron) = crons.iter().find(|cron| cron.schedule == event.schedule) else {
        return Err(format!("this workflow has no cron trigger with schedule {:?}", event.schedule));
    };
    (cron.handler)(&Context::new(), event).map_err(|error| error.message().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn ok(_ctx: &Context, event: CronEvent) -> Result<()> {
        assert_eq!(event.schedule, "* * * * * *");
        Ok(())
    }

    fn failing(_ctx: &Context, event: CronEvent) -> Result<()> {
        Err(Error::new(500, format!("tick {} failed", event.scheduled_at)))
    }

    const CRONS: &[Cron] = &[Cron::new("* * * * * *", ok), Cron::new("0 0 * * *", failing)];
    const _: () = check_crons(CRONS);

    #[test]
    fn a_tick_runs_the_handler_of_its_schedule() {
        assert_eq!(dispatch(CRONS, CronEvent::new("* * * * * *", 1000, 1003)), Ok(()));
    }

    #[test]
    fn a_handler_error_becomes_its_message() {
        assert_eq!(
            dispatch(CRONS, CronEvent::new("0 0 * * *", 86_400_000, 86_400_001)),
            Err("tick 86400000 failed".into())
        );
    }

    #[test]
    fn an_unknown_schedule_is_an_error_naming_it() {
        let err = dispatch(CRONS, CronEvent::new("1 2 3 4 5", 0, 0)).unwrap_err();
        assert_eq!(err, "this workflow has no cron trigger with schedule \"1 2 3 4 5\"");
    }

    #[test]
    fn duplicate_schedules_and_blank_ones_are_refused() {
        let dup = [Cron::new("* * * * *", ok), Cron::new("* * * * *", failing)];
        assert!(std::panic::catch_unwind(|| check_crons(&dup)).is_err());
        for bad in ["", " * * * * *", "* * * * * "] {
            assert!(std::panic::catch_unwind(|| Cron::new(bad, ok)).is_err(), "{bad:?}");
        }
    }
}
