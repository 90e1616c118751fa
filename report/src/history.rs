//! Run history under a report's out directory.
//!
//! ```text
//! OUT/runs/2026-11-21T06-00-00Z/report.json (+ every --format asked for)
//! OUT/runs/2026-11-21T07-00-00Z/...
//! OUT/latest -> runs/2026-11-21T07-00-00Z
//! ```
//!
//! A run is written into a hidden temporary directory and renamed into
//! place, then `latest` is swapped by renaming a new symlink over it, so a
//! reader (a web server, a CI step, the next run) sees either the old run
//! or the new one, never half of one. `report.json` is always written: it
//! is what the next run compares against.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::formats::Format;
use crate::{Change, Comparison, Report, Resolved, Status};

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot write the report under {path}: {message}")]
    Write { path: String, message: String },
    #[error("cannot read the previous report {path}: {message}")]
    Read { path: String, message: String },
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> HistoryError {
    HistoryError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The report the next run compares against: the one `latest` points to.
pub fn previous_report(out: &Path) -> Result<Option<Report>, HistoryError> {
    let path = out.join("latest").join(Format::Json.file_name());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(HistoryError::Read {
                path: path.display().to_string(),
                message: e.to_string(),
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| HistoryError::Read {
            path: path.display().to_string(),
            message: format!("{e} (move the out directory aside to start a new history)"),
        })
}

/// Identity of a finding across runs: control, resource and dimensions.
fn key(control: &str, f: &crate::Finding) -> String {
    let mut k = format!("{control}|{}", f.resource_path());
    for (name, value) in &f.dimensions {
        k.push_str(&format!("|{name}={value}"));
    }
    k
}

fn is_violation(status: Status) -> bool {
    matches!(status, Status::Alarm | Status::Waived)
}

/// Marks each alarm new or persisting against `previous` and lists the
/// previous alarms that are gone.
///
/// A previous alarm only counts as resolved when this run could judge it:
/// its cluster was read without failure and its control ran. An outage
/// must not look like a fix.
pub fn compare(previous: &Report, current: &mut Report) {
    let mut before: BTreeMap<String, (&str, &crate::Finding)> = BTreeMap::new();
    for c in &previous.controls {
        for f in c.findings.iter().filter(|f| is_violation(f.status)) {
            before.insert(key(&c.control.id, f), (c.control.id.as_str(), f));
        }
    }
    let failed_clusters: BTreeSet<String> = current
        .cluster_failures
        .iter()
        .map(|f| f.cluster.clone())
        .collect();
    let evaluated: BTreeSet<String> = current
        .controls
        .iter()
        .filter(|c| c.error.is_none())
        .map(|c| c.control.id.clone())
        .collect();
    let mut now: BTreeSet<String> = BTreeSet::new();
    let (mut new, mut persisting) = (0, 0);
    for c in &mut current.controls {
        for f in &mut c.findings {
            if !is_violation(f.status) {
                continue;
            }
            let k = key(&c.control.id, f);
            if f.status == Status::Alarm {
                if before.contains_key(&k) {
                    f.change = Some(Change::Persisting);
                    persisting += 1;
                } else {
                    f.change = Some(Change::New);
                    new += 1;
                }
            }
            now.insert(k);
        }
    }
    let resolved = before
        .into_iter()
        .filter(|(k, (control, f))| {
            !now.contains(k)
                && evaluated.contains(*control)
                && !failed_clusters.contains(&f.cluster)
                && current.clusters.contains(&f.cluster)
        })
        .map(|(_, (control, f))| {
            let mut finding = f.clone();
            finding.change = None;
            Resolved {
                control: control.to_string(),
                finding,
            }
        })
        .collect();
    current.comparison = Some(Comparison {
        previous_run: previous.run.clone(),
        window: None,
        new,
        persisting,
        resolved,
    });
}

/// How run ids spell their start time (`2026-11-21T06-00-00Z`): UTC,
/// second resolution, sorting as text in time order, safe in file names.
pub const RUN_ID_FORMAT: &str = "%Y-%m-%dT%H-%M-%SZ";

/// The id of a run that started at `started`.
pub fn run_id(started: DateTime<Utc>) -> String {
    started.format(RUN_ID_FORMAT).to_string()
}

/// The start time a run's name spells: its id, or its id with the `-N`
/// a second run in the same second gets. `None` for any other name.
pub fn run_time(name: &str) -> Option<DateTime<Utc>> {
    let (stamp, suffix) = name.split_at_checked(20)?;
    if !(suffix.is_empty()
        || suffix
            .strip_prefix('-')
            .is_some_and(|n| n.parse::<u32>().is_ok()))
    {
        return None;
    }
    NaiveDateTime::parse_from_str(stamp, RUN_ID_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// Orders run names by time, then by their `-N` (so `…Z-10` comes after
/// `…Z-2`, which plain text order would not do).
pub fn run_order(name: &str) -> (&str, u32) {
    let (stamp, suffix) = name.split_at_checked(20).unwrap_or((name, ""));
    let n = suffix
        .strip_prefix('-')
        .and_then(|n| n.parse::<u32>().ok())
        .map_or(0, |n| n + 1);
    (stamp, n)
}

/// A name for a run with id `run` that no earlier run under `out` used:
/// neither a rendered run (`runs/`) nor one `--keep` removed whose history
/// (`history/runs/NAME.parquet`) is still there.
pub fn free_run_name(out: &Path, run: &str) -> String {
    let taken = |name: &str| {
        out.join("runs").join(name).exists()
            || out
                .join("history")
                .join("runs")
                .join(format!("{name}.parquet"))
                .exists()
    };
    let mut name = run.to_string();
    let mut n = 1;
    while taken(&name) {
        name = format!("{run}-{n}");
        n += 1;
    }
    name
}

/// Writes a run (`report.json` plus `formats`) atomically as `runs/NAME`
/// (from [`free_run_name`]) and points `latest` at it. Returns the run's
/// directory.
pub fn write_run(
    out: &Path,
    name: &str,
    report: &Report,
    formats: &[Format],
) -> Result<PathBuf, HistoryError> {
    let runs = out.join("runs");
    std::fs::create_dir_all(&runs).map_err(|e| write_err(&runs, e))?;
    let tmp = runs.join(format!(".tmp-{}-{}", report.run, std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| write_err(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| write_err(&tmp, e))?;
    let mut all: Vec<Format> = vec![Format::Json];
    all.extend(formats.iter().copied().filter(|f| *f != Format::Json));
    for format in all {
        let path = tmp.join(format.file_name());
        let mut file = std::fs::File::create(&path).map_err(|e| write_err(&path, e))?;
        file.write_all(format.render(report).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| write_err(&path, e))?;
    }
    let dir = runs.join(name);
    if dir.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(write_err(&dir, "a run of that name exists"));
    }
    std::fs::rename(&tmp, &dir).map_err(|e| write_err(&dir, e))?;
    point_latest(out, name)?;
    Ok(dir)
}

#[cfg(unix)]
fn point_latest(out: &Path, run: &str) -> Result<(), HistoryError> {
    let link = out.join("latest");
    let tmp = out.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(Path::new("runs").join(run), &tmp)
        .map_err(|e| write_err(&tmp, e))?;
    std::fs::rename(&tmp, &link).map_err(|e| write_err(&link, e))
}

#[cfg(not(unix))]
fn point_latest(out: &Path, run: &str) -> Result<(), HistoryError> {
    // Without symlinks, `latest` is a file naming the run.
    let link = out.join("latest");
    std::fs::write(&link, run).map_err(|e| write_err(&link, e))
}

/// Runs under `out`, oldest first (run ids sort by time).
pub fn runs(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("runs"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort_by(|a, b| run_order(a).cmp(&run_order(b)));
    names
}

/// Keeps the newest `keep` runs (the one `latest` names always stays) and
/// removes leftovers of interrupted writes. Returns the runs removed.
pub fn prune(out: &Path, keep: usize) -> Result<Vec<String>, HistoryError> {
    let runs_dir = out.join("runs");
    let latest = std::fs::read_link(out.join("latest"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let mut removed = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&runs_dir) {
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            // Our own in-flight write has our pid; others are leftovers.
            if name.starts_with(".tmp-") && !name.ends_with(&format!("-{}", std::process::id())) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let all = runs(out);
    let excess = all.len().saturating_sub(keep.max(1));
    for name in all.into_iter().take(excess) {
        if latest.as_deref() == Some(name.as_str()) {
            continue;
        }
        let path = runs_dir.join(&name);
        std::fs::remove_dir_all(&path).map_err(|e| write_err(&path, e))?;
        removed.push(name);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use crate::{ClusterFailure, Severity};

    #[test]
    fn writes_runs_atomically_points_latest_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let mut r = sample::report();
        for (i, run) in [
            "2026-11-21T06-00-00Z",
            "2026-11-21T07-00-00Z",
            "2026-11-21T08-00-00Z",
        ]
        .iter()
        .enumerate()
        {
            r.run = run.to_string();
            let name = free_run_name(out, run);
            let written = write_run(out, &name, &r, &[Format::Html, Format::Json]).unwrap();
            assert!(written.join("report.json").is_file());
            assert!(written.join("report.html").is_file());
            assert_eq!(previous_report(out).unwrap().unwrap().run, *run, "run {i}");
        }
        // Same second again: a distinct directory.
        let name = free_run_name(out, &r.run);
        let again = write_run(out, &name, &r, &[]).unwrap();
        assert!(again.ends_with("2026-11-21T08-00-00Z-1"));
        assert!(write_run(out, &name, &r, &[]).is_err(), "never over a run");
        std::fs::create_dir(out.join("runs/.tmp-stale-1")).unwrap();
        let removed = prune(out, 2).unwrap();
        assert_eq!(
            removed,
            vec!["2026-11-21T06-00-00Z", "2026-11-21T07-00-00Z"]
        );
        assert_eq!(
            runs(out),
            vec!["2026-11-21T08-00-00Z", "2026-11-21T08-00-00Z-1"]
        );
        assert!(!out.join("runs/.tmp-stale-1").exists());
        assert_eq!(
            std::fs::read_link(out.join("latest")).unwrap(),
            Path::new("runs/2026-11-21T08-00-00Z-1")
        );
    }

    #[test]
    fn run_names_are_never_reused_and_sort_by_time_then_number() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let run = "2026-11-21T06-00-00Z";
        // --keep removed runs/RUN, but its history is still there.
        std::fs::create_dir_all(out.join("history/runs")).unwrap();
        std::fs::write(out.join(format!("history/runs/{run}.parquet")), b"").unwrap();
        assert_eq!(free_run_name(out, run), format!("{run}-1"));
        std::fs::create_dir_all(out.join(format!("runs/{run}-1"))).unwrap();
        assert_eq!(free_run_name(out, run), format!("{run}-2"));

        let mut names = vec![
            format!("{run}-10"),
            format!("{run}-2"),
            "2026-11-21T05-00-00Z".to_string(),
            run.to_string(),
        ];
        names.sort_by(|a, b| run_order(a).cmp(&run_order(b)));
        assert_eq!(
            names,
            [
                "2026-11-21T05-00-00Z",
                run,
                &format!("{run}-2"),
                &format!("{run}-10")
            ]
        );
        let t = run_time(run).unwrap();
        assert_eq!(run_id(t), run);
        assert_eq!(run_time(&format!("{run}-10")), Some(t));
        assert_eq!(run_time(&format!("{run}-x")), None);
        assert_eq!(run_time(&format!("{run}.tmp")), None);
        assert_eq!(run_time("latest"), None);
    }

    #[test]
    fn compares_new_persisting_and_resolved_but_not_across_an_outage() {
        let previous = sample::report();
        let mut current = sample::report();
        current.run = "next".into();
        // The prod alarm persists; dev/shop/Deployment/api turns into an alarm;
        // a previous alarm on staging vanishes while staging is unreachable.
        let mut prev = previous.clone();
        prev.controls[0].findings.push(sample::finding(
            "staging",
            Some("a"),
            "Pod",
            "p",
            Status::Alarm,
        ));
        prev.controls[0].findings.push(sample::finding(
            "dev",
            Some("b"),
            "Pod",
            "fixed",
            Status::Alarm,
        ));
        current.controls[0].findings[2].status = Status::Alarm;
        current.clusters.push("staging".into());
        current.cluster_failures = vec![ClusterFailure {
            cluster: "staging".into(),
            message: "down".into(),
        }];
        compare(&prev, &mut current);
        let c = current.comparison.as_ref().unwrap();
        assert_eq!((c.new, c.persisting), (1, 1));
        let resolved: Vec<String> = c
            .resolved
            .iter()
            .map(|r| r.finding.resource_path())
            .collect();
        assert_eq!(resolved, vec!["dev/b/Pod/fixed"]);
        let changes: Vec<Option<Change>> = current.controls[0]
            .findings
            .iter()
            .map(|f| f.change)
            .collect();
        assert_eq!(
            changes,
            vec![Some(Change::Persisting), None, Some(Change::New)]
        );
        assert_eq!(current.controls[0].control.severity, Severity::Critical);
    }
}
