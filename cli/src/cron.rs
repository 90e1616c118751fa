//! Schedules for repeated runs (`kq report`/`kq snapshot` with `--every`
//! or `--cron`), and five-field cron expressions, in UTC.
//!
//! The syntax is Vixie cron's, the one Kubernetes CronJobs use: minute,
//! hour, day of month, month, day of week; `*`, lists, ranges, steps
//! (`*/15`, `1-30/2`), month and day names, 7 for Sunday, and the
//! `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly` shorthands. When both
//! day fields are restricted, a day matching either one fires, as in cron.

use chrono::{DateTime, Datelike, Duration, DurationRound, Timelike, Utc};

use crate::Failure;
use crate::args::Args;

/// When a repeated job runs.
pub enum Schedule {
    Once,
    Every(std::time::Duration),
    Cron(Cron),
}

impl Schedule {
    /// `--every` or `--cron`, else once.
    pub fn from_args(args: &Args) -> Result<Schedule, Failure> {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parses an expression; the error says which field is wrong and why.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "cron expression '{text}' has {} fields; write five: minute hour day-of-month month day-of-week, e.g. \"0 6 * * *\"",
                fields.len()
            ));
        }
        let minutes = field(fields[0], "minute", 0, 59, &[])?;
        let hours = field(fields[1], "hour", 0, 23, &[])?;
        let days = field(fields[2], "day of month", 1, 31, &[])?;
        let months = field(fields[3], "month", 1, 12, &MONTHS)?;
        let mut weekdays = field(fields[4], "day of week", 0, 7, &WEEKDAYS)?;
        // 7 is Sunday too.
        if weekdays[7] {
            weekdays[0] = true;
        }
        weekdays.truncate(7);
        Ok(Cron {
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted: !fields[2].starts_with('*'),
            weekdays_restricted: !fields[4].starts_with('*'),
        })
    }

    fn day_matches(&self, t: &DateTime<Utc>) -> bool {
        let dom = self.days[t.day() as usize];
        let dow = self.weekdays[t.weekday().num_days_from_sunday() as usize];
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first matching minute strictly after `after`; None when the
    /// expression never matches (e.g. 30 February) within five years.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut t = after.duration_trunc(Duration::minutes(1)).ok()? + Duration::minutes(1);
        let limit = after + Duration::days(5 * 366);
        while t <= limit {
            if !self.months[t.month() as usize] || !self.day_matches(&t) {
                // Skip to the next day's midnight.
                t = (t + Duration::days(1))
                    .duration_trunc(Duration::days(1))
                    .ok()?;
                continue;
            }
            if !self.hours[t.hour() as usize] {
                t = (t + Duration::hours(1))
                    .duration_trunc(Duration::hours(1))
                    .ok()?;
                continue;
            }
            if self.minutes[t.minute() as usize] {
                return Some(t);
            }
            t += Duration::minutes(1);
        }
        None
    }
}

/// One field as a membership table indexed by value.
fn field(text: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut set = vec![false; max as usize + 1];
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            // Month names count from 1 (the field's minimum), day names from 0.
            return Ok(i as u32 + min);
        }
        let v: u32 = s
            .parse()
            .map_err(|_| format!("the {what} field has '{s}', which is not a number"))?;
        if v < min || v > max {
            return Err(format!(
                "the {what} field has {v}; it must be {min} to {max}"
            ));
        }
        Ok(v)
    };
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("the {what} field has step '{s}'; a step is a positive number")
                })?;
                (r, step)
            }
            None => (part, 1),
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!(
                    "the {what} field has the range {a}-{b}, which runs backwards"
                ));
            }
            (a, b)
        } else {
            let v = value(range)?;
            // `5/15` means from 5 to the end, every 15.
            (v, if part.contains('/') { max } else { v })
        };
        let mut v = from;
        while v <= to {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok(set)
}

/// Waits for Ctrl-C or SIGTERM (what a container runtime sends).
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
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
    let stop = stop_requested();
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
        assert_eq!(
            Cron::parse("0 0 * * 7").unwrap(),
            Cron::parse("0 0 * * sun").unwrap()
        );
        assert_eq!(
            Cron::parse("@daily").unwrap(),
            Cron::parse("0 0 * * *").unwrap()
        );
        assert_eq!(
            Cron::parse("0 0 30 2 *")
                .unwrap()
                .next_after(at(2026, 1, 1, 0, 0)),
            None
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = |s: &str| Cron::parse(s).unwrap_err();
        assert!(e("0 6 * *").contains("has 4 fields"));
        assert_eq!(
            e("61 * * * *"),
            "the minute field has 61; it must be 0 to 59"
        );
        assert_eq!(
            e("0 x * * *"),
            "the hour field has 'x', which is not a number"
        );
        assert!(e("*/0 * * * *").contains("step '0'"));
        assert!(e("0 0 * 5-2 *").contains("runs backwards"));
    }
}
