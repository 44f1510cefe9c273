//! A job's schedule: a cron expression as Spin's cron trigger reads it (the `croner` parser
//! with the same settings: six fields, seconds first, day-of-month AND day-of-week, UTC;
//! `@hourly`-style names accepted), and the ticks it gives.
//!
//! Ticks are whole seconds of UTC wall-clock time, so every runner computes the same ticks
//! from the same expression: that is what lets several runners agree on "this tick".

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;

#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
}

impl Schedule {
    /// Parses `expression`, or says what is wrong with it.
    pub fn parse(expression: &str) -> Result<Self, String> {
        let trimmed = expression.trim();
        let fields = trimmed.split_whitespace().count();
        if !trimmed.starts_with('@') && fields != 6 {
            return Err(format!(
                "`{expression}` has {fields} fields; a cron expression here has six, seconds \
                 first: `sec min hour day-of-month month day-of-week` (e.g. `*/2 * * * * *`)"
            ));
        }
        let cron = Cron::new(trimmed)
            .with_seconds_required()
            .with_dom_and_dow()
            .parse()
            .map_err(|e| format!("`{expression}` is not a valid cron expression: {e}"))?;
        // A pattern that never matches (e.g. 30 February) is an error, not a silent job.
        let from = Utc.timestamp_opt(0, 0).single().unwrap_or_default();
        cron.find_next_occurrence(&from, false)
            .map_err(|e| format!("`{expression}` never matches a time: {e}"))?;
        Ok(Self {
            expression: expression.to_string(),
            cron,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first tick strictly after `time`.
    pub fn next_after(&self, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let whole_second = Utc.timestamp_opt(time.timestamp(), 0).single()?;
        self.cron.find_next_occurrence(&whole_second, false).ok()
    }

    /// The ticks in `(after, until]`, walked up to `cap` of them: how many, and the last one
    /// (`None` if there is none).
    pub fn ticks_in(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        cap: usize,
    ) -> (usize, Option<DateTime<Utc>>) {
        let (mut count, mut last) = (0, None);
        while count < cap {
            match self.next_after(last.unwrap_or(after)) {
                Some(tick) if tick <= until => {
                    count += 1;
                    last = Some(tick);
                }
                _ => break,
            }
        }
        (count, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    #[test]
    fn accepts_what_spins_cron_trigger_accepts() {
        for good in [
            "*/2 * * * * *",
            "1/2 * * * * *",
            "0 */5 * * * *",
            "0 30 9 * * MON-FRI",
            "0 0 12 * * ?",
            "@hourly",
            "@daily",
            "@weekly",
            "@monthly",
            "@yearly",
        ] {
            assert!(Schedule::parse(good).is_ok(), "{good} should parse");
        }
    }

    #[test]
    fn refuses_five_and_seven_fields_and_nonsense_with_a_reason() {
        let five = Schedule::parse("*/5 * * * *").unwrap_err();
        assert!(five.contains("5 fields") && five.contains("six"), "{five}");
        let seven = Schedule::parse("0 1/2 11,12 5-10 * * *").unwrap_err();
        assert!(seven.contains("7 fields"), "{seven}");
        for bad in [
            "60 * * * * *",
            "0 0 24 * * *",
            "@every 5s",
            "@reboot",
            "",
            "a b c d e f",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(
            Schedule::parse("0 0 0 30 2 *")
                .unwrap_err()
                .contains("never")
        );
    }

    #[test]
    fn ticks_are_whole_utc_seconds_after_the_given_time() {
        let every_two = Schedule::parse("*/2 * * * * *").unwrap();
        assert_eq!(every_two.next_after(at(100)), Some(at(102)));
        assert_eq!(every_two.next_after(at(101)), Some(at(102)));
        let mid_second = at(101) + chrono::Duration::milliseconds(999);
        assert_eq!(every_two.next_after(mid_second), Some(at(102)));
        assert_eq!(
            every_two.ticks_in(at(100), at(107), 100),
            (3, Some(at(106)))
        );
        assert_eq!(
            every_two.ticks_in(at(100), at(10_000), 5),
            (5, Some(at(110)))
        );
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(hourly.next_after(at(3_599)), Some(at(3_600)));
    }
}
