//! Schedules for repeated runs (`kq report`/`kq snapshot` with `--every`
//! or `--cron`), and five-field cron expressions, in UTC.
//!
//! The syntax is Vixie cron's, the one Kubernetes CronJobs use: minute,
//! hour, day of month, month, day of week; `*`, lists, ranges, steps
//! (`*/15`, `1-30/2`), month and day names, 7 for Sunday, and the
//! `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly` shorthands. When both
//! day fields are restricted, a day matching either one fires, as in cron.
//! The expression itself is croner's to parse and evaluate.

use chrono::{DateTime, Duration, Utc};

use crate::Failure;
use crate::args::ScheduleArgs;

/// When a repeated job runs.
pub enum Schedule {
    Once,
    Every(std::time::Duration),
    Cron(Cron),
}

impl Schedule {
    /// `--every` or `--cron`, else once.
    pub fn from_args(args: &ScheduleArgs) -> Result<Schedule, Failure> {
        Ok(match (&args.every, &args.cron) {
            (Some(d), _) if d.is_zero() => {
                return Err(Failure::usage("--every must be longer than 0"));
            }
            (Some(d), _) => Schedule::Every(*d),
            (None, Some(expr)) => Schedule::Cron(
                Cron::parse(expr).map_err(|e| Failure::usage(format!("--cron: {e}")))?,
            ),
            (None, None) => Schedule::Once,
        })
    }
}

/// A parsed `--cron` expression (croner, in Vixie cron's dialect).
#[derive(Debug, Clone)]
pub struct Cron(Box<croner::Cron>);

impl Cron {
    /// Parses an expression; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let text = text.trim();
        // croner also takes seconds and years; a five-field cron user who
        // typed four or six fields gets that said plainly instead.
        let fields = text.split_whitespace().count();
        if !text.starts_with('@') && fields != 5 {
            return Err(format!(
                "cron expression '{text}' has {fields} fields; write five: minute hour day-of-month month day-of-week, e.g. \"0 6 * * *\""
            ));
        }
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build();
        parser
            .parse(text)
            .map(|cron| Cron(Box::new(cron)))
            .map_err(|e| format!("cron expression '{text}' is not valid: {e}"))
    }

    /// The first matching minute strictly after `after`; None when the
    /// expression never matches (e.g. 30 February).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.find_next_occurrence(&after, false).ok()
    }
}

fn next_run(schedule: &Schedule, last_start: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let now = Utc::now();
    match schedule {
        Schedule::Once => None,
        // Fixed rate from the previous start; an overrun starts at once.
        Schedule::Every(d) => Some(match last_start {
            None => now,
            Some(s) => (s + Duration::from_std(*d).unwrap_or(chrono::TimeDelta::MAX)).max(now),
        }),
        Schedule::Cron(cron) => cron.next_after(now),
    }
}

/// Runs `job` on `schedule` until Ctrl-C or SIGTERM, between or during
/// runs (an interrupted run is dropped). `job` gets its start time and
/// reports its own outcome: a failing run never ends the schedule.
/// `what` names the job in "next run" lines (`kq report`).
pub async fn run_scheduled<F, Fut>(
    what: &str,
    schedule: &Schedule,
    mut job: F,
) -> Result<u8, Failure>
where
    F: FnMut(DateTime<Utc>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let stop = crate::exec::stop_requested();
    tokio::pin!(stop);
    let mut last_start = None;
    loop {
        let Some(at) = next_run(schedule, last_start) else {
            return Err(Failure::usage(
                "the --cron expression never matches a date (e.g. 30 February)",
            ));
        };
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        if !wait.is_zero() {
            eprintln!(
                "{what}: next run at {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
        }
        tokio::select! {
            _ = &mut stop => return Ok(0),
            _ = tokio::time::sleep(wait) => {}
        }
        let start = Utc::now();
        last_start = Some(start);
        tokio::select! {
            _ = &mut stop => return Ok(0),
            _ = job(start) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn next_times() {
        let daily = Cron::parse("0 6 * * *").unwrap();
        assert_eq!(
            daily.next_after(at(2026, 11, 21, 5, 59)),
            Some(at(2026, 11, 21, 6, 0))
        );
        assert_eq!(
            daily.next_after(at(2026, 11, 21, 6, 0)),
            Some(at(2026, 11, 22, 6, 0))
        );
        let quarter = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(
            quarter.next_after(at(2026, 12, 31, 23, 50)),
            Some(at(2027, 1, 1, 0, 0))
        );
        let weekdays = Cron::parse("30 9 * * mon-fri").unwrap();
        // 2026-11-21 is a Saturday.
        assert_eq!(
            weekdays.next_after(at(2026, 11, 21, 12, 0)),
            Some(at(2026, 11, 23, 9, 30))
        );
        let leap = Cron::parse("0 0 29 feb *").unwrap();
        assert_eq!(
            leap.next_after(at(2026, 3, 1, 0, 0)),
            Some(at(2028, 2, 29, 0, 0))
        );
        // Both day fields restricted: either matches (the 1st, or any Sunday).
        let either = Cron::parse("0 0 1 * 0").unwrap();
        assert_eq!(
            either.next_after(at(2026, 11, 21, 0, 0)),
            Some(at(2026, 11, 22, 0, 0))
        );
        let sunday = at(2026, 11, 22, 0, 0);
        for same in ["0 0 * * 7", "0 0 * * sun", "0 0 * * 0"] {
            assert_eq!(
                Cron::parse(same)
                    .unwrap()
                    .next_after(at(2026, 11, 21, 1, 0)),
                Some(sunday),
                "{same}"
            );
        }
        assert_eq!(
            Cron::parse("@daily")
                .unwrap()
                .next_after(at(2026, 11, 21, 1, 0)),
            Some(at(2026, 11, 22, 0, 0))
        );
        assert_eq!(
            Cron::parse("0 0 30 2 *")
                .unwrap()
                .next_after(at(2026, 1, 1, 0, 0)),
            None
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = |s: &str| Cron::parse(s).unwrap_err();
        assert!(e("0 6 * *").contains("has 4 fields"));
        assert!(e("0 0 6 * * *").contains("has 6 fields"));
        for bad in ["61 * * * *", "0 x * * *", "*/0 * * * *", "0 0 * 13 *"] {
            let message = e(bad);
            assert!(message.contains("is not valid"), "{bad}: {message}");
            assert_eq!(message.lines().count(), 1, "{bad}: {message}");
        }
    }
}
