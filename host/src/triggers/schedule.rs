//! Cron expressions: parsing (with the `croner` crate) and finding ticks, in
//! UTC and in milliseconds since the Unix epoch. Pure: no clock, no I/O.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A checked cron expression. Kept as its text; read back by parsing it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Schedule {
    text: String,
    cron: Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Schedule {}

impl TryFrom<String> for Schedule {
    type Error = ScheduleError;
    fn try_from(text: String) -> Result<Self, ScheduleError> {
        Schedule::parse(&text)
    }
}

impl From<Schedule> for String {
    fn from(schedule: Schedule) -> String {
        schedule.text
    }
}

/// Why a cron expression is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cron schedule {text:?} is not valid: {reason}")]
pub struct ScheduleError {
    pub text: String,
    pub reason: String,
}

/// The shortest form of the rules, for error messages.
const FORMS: &str = "use 5 fields (minute hour day-of-month month day-of-week, e.g. \"*/15 * * * *\") \
                     or 6 with seconds first (e.g. \"*/5 * * * * *\"), or @hourly, @daily, @weekly, @monthly, @yearly";

impl Schedule {
    /// Parses `text`: five fields (minute precision), six (seconds first) or
    /// an `@` alias. A schedule that never fires is refused too.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let refuse = |reason: String| ScheduleError { text: text.to_owned(), reason };
        let fields = text.split_whitespace().count();
        if text.trim() != text || text.is_empty() {
            return Err(refuse(format!("it is empty or has spaces around it; {FORMS}")));
        }
        if !text.starts_with('@') && fields != 5 && fields != 6 {
            return Err(refuse(format!("it has {fields} fields; {FORMS}")));
        }
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(text).map_err(|e| refuse(e.to_string()))?;
        let schedule = Schedule { text: text.to_owned(), cron };
        // Any time will do: a pattern that matches no date (say, 30 February) never does.
        if schedule.next_after(0).is_none() {
            return Err(refuse("it names no time that exists (for example 30 February)".into()));
        }
        Ok(schedule)
    }

    /// The expression as declared.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first tick strictly after `ms`, if there is one.
    pub fn next_after(&self, ms: u64) -> Option<u64> {
        // Ticks fall on whole seconds: the first one after the start of
        // `ms`'s second is the first one after `ms`.
        let second = DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms - ms % 1000).ok()?)?;
        let next = self.cron.find_next_occurrence(&second, false).ok()?;
        u64::try_from(next.timestamp_millis()).ok()
    }

    /// How many ticks fall in `(after, until]`, counting no further than `cap`.
    pub fn count_between(&self, after: u64, until: u64, cap: usize) -> usize {
        let mut count = 0;
        let mut at = after;
        while count < cap {
            match self.next_after(at) {
                Some(tick) if tick <= until => {
                    count += 1;
                    at = tick;
                }
                _ => break,
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01T00:00:00Z.
    const JAN_1: u64 = 1_704_067_200_000;

    #[test]
    fn five_fields_tick_on_whole_minutes_and_six_on_seconds() {
        let minutes = Schedule::parse("*/15 * * * *").unwrap();
        assert_eq!(minutes.next_after(JAN_1), Some(JAN_1 + 15 * 60_000));
        assert_eq!(minutes.next_after(JAN_1 - 1), Some(JAN_1));
        let seconds = Schedule::parse("*/5 * * * * *").unwrap();
        assert_eq!(seconds.next_after(JAN_1), Some(JAN_1 + 5000));
        assert_eq!(seconds.next_after(JAN_1 + 4999), Some(JAN_1 + 5000));
        assert_eq!(seconds.next_after(JAN_1 + 5000), Some(JAN_1 + 10_000));
        let every = Schedule::parse("* * * * * *").unwrap();
        assert_eq!(
            every.next_after(JAN_1 + 500),
            Some(JAN_1 + 1000),
            "a tick is after the millisecond, not the second"
        );
    }

    #[test]
    fn schedules_are_read_in_utc() {
        let daily = Schedule::parse("30 6 * * *").unwrap();
        assert_eq!(daily.next_after(JAN_1), Some(JAN_1 + (6 * 60 + 30) * 60_000));
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(hourly.next_after(JAN_1), Some(JAN_1 + 3_600_000));
    }

    #[test]
    fn ticks_between_two_times_are_counted_up_to_a_cap() {
        let seconds = Schedule::parse("* * * * * *").unwrap();
        assert_eq!(seconds.count_between(JAN_1, JAN_1 + 10_000, 100), 10);
        assert_eq!(seconds.count_between(JAN_1, JAN_1 + 999, 100), 0);
        assert_eq!(seconds.count_between(JAN_1, JAN_1 + 3_600_000, 50), 50);
    }

    #[test]
    fn bad_expressions_are_refused_with_the_reason() {
        for (text, needle) in [
            ("", "empty"),
            (" * * * * *", "spaces around it"),
            ("* * * *", "it has 4 fields"),
            ("* * * * * * *", "it has 7 fields"),
            ("61 * * * *", "not valid"),
            ("* * * * * 8", "not valid"),
            ("every minute", "it has 2 fields"),
            ("x * * * *", "not valid"),
            ("0 0 30 2 *", "names no time that exists"),
        ] {
            let err = Schedule::parse(text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("cron schedule {text:?} is not valid: ")), "{err}");
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
