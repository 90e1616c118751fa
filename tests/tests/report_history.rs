//! Report history: every `kq report --out` run appends its findings to
//! the history, `kq --reports` answers SQL over it (`kq_history`,
//! `kq_runs`), `--since` compares with the oldest run of a window even
//! after `--keep` removed that run's rendered report, and the HTML report
//! charts score and alarms over the runs, looked at in headless Chromium.
//!
//! Expected answers come from the runs' own `report.json` files, computed
//! here without kq's comparison code.

use std::collections::BTreeSet;
use std::path::Path;

use kq_tests::browser::{chromium, console_lines};
use kq_tests::{chromium_binary, latest_report_json, ndjson_rows, ok, run_kq_raw, stderr, stdout};
use serde_json::Value;

/// Only the registries the demo's system pods use: most images alarm.
const FEW_TRUSTED: &str = "trusted_registries=registry.k8s.io/";
/// Docker Hub trusted too: fewer alarms.
const MORE_TRUSTED: &str = "trusted_registries=registry.k8s.io/,docker.io/";

struct Run {
    /// The run's directory name under OUT/runs, which the history uses.
    name: String,
    json: Value,
}

/// `kq report --demo --pack baseline --out OUT` with `extra` flags.
async fn report(out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<String> = ["report", "--demo", "--pack", "baseline", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = run_kq_raw(args).await;
    // The demo fleet fails baseline controls: exit 1, and nothing worse.
    assert_eq!(
        run.status.code(),
        Some(1),
        "kq report {extra:?}\nstdout:\n{}\nstderr:\n{}",
        stdout(&run),
        stderr(&run)
    );
    let text = stdout(&run);
    let dir = text
        .lines()
        .find_map(|l| l.strip_prefix("written to "))
        .unwrap_or_else(|| panic!("no 'written to' line:\n{text}"));
    let name = Path::new(dir.trim())
        .file_name()
        .expect("a run directory")
        .to_string_lossy()
        .into_owned();
    Run {
        name,
        json: latest_report_json(out),
    }
}

/// The identity of each alarm or waived alarm: control, resource and the
/// finding's further columns.
fn violations(report: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for control in report["controls"].as_array().expect("controls") {
        let id = control["control"]["id"].as_str().expect("control id");
        for f in control["findings"].as_array().expect("findings") {
            let status = f["status"].as_str().expect("status");
            if status == "alarm" || status == "waived" {
                keys.insert(key(id, f));
            }
        }
    }
    keys
}

fn key(control: &str, f: &Value) -> String {
    format!(
        "{control}|{}/{}/{}/{}|{}",
        f["cluster"].as_str().unwrap_or_default(),
        f["namespace"].as_str().unwrap_or("-"),
        f["kind"].as_str().unwrap_or_default(),
        f["name"].as_str().unwrap_or_default(),
        f.get("dimensions")
            .map(Value::to_string)
            .unwrap_or_default()
    )
}

fn marked_new(report: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for control in report["controls"].as_array().expect("controls") {
        let id = control["control"]["id"].as_str().expect("control id");
        for f in control["findings"].as_array().expect("findings") {
            if f["change"] == "new" {
                keys.insert(key(id, f));
            }
        }
    }
    keys
}

async fn sql(out: &Path, query: &str) -> Vec<Value> {
    let run = run_kq_raw(vec![
        "--reports".into(),
        out.display().to_string(),
        "-o".into(),
        "ndjson".into(),
        query.into(),
    ])
    .await;
    ok(&run);
    ndjson_rows(&run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_queryable_compared_over_a_window_and_charted() {
    // Fail before the slow part when the browser is missing.
    chromium_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("reports");

    let first = report(&out, &["--param", FEW_TRUSTED]).await;
    // As if the first run were written by a kq from before the history:
    // the next run fills the history from its report.json.
    std::fs::remove_dir_all(out.join("history")).expect("remove the history");
    let second = report(&out, &["--param", MORE_TRUSTED]).await;
    // The third run keeps only itself under runs/: the first run's
    // rendered report is gone, its history is not.
    let third = report(&out, &["--param", FEW_TRUSTED, "--keep", "1"]).await;
    assert!(
        !out.join("runs").join(&first.name).exists(),
        "--keep 1 pruned"
    );
    let fourth = report(
        &out,
        &["--param", MORE_TRUSTED, "--since", "1h", "-o", "html,json"],
    )
    .await;
    let runs = [&first, &second, &third, &fourth];
    assert!(
        violations(&first.json).len() > violations(&second.json).len(),
        "trusting Docker Hub resolves some alarms"
    );

    // --since compares with the oldest run in the window, not the previous.
    let cmp = &fourth.json["comparison"];
    assert_eq!(cmp["previous_run"], first.name.as_str(), "{cmp}");
    assert_eq!(cmp["window"], "1h");
    let before = violations(&first.json);
    let now = violations(&fourth.json);
    let new: BTreeSet<String> = now.difference(&before).cloned().collect();
    let gone: BTreeSet<String> = before.difference(&now).cloned().collect();
    assert!(
        !gone.is_empty(),
        "some alarms of the first run are resolved"
    );
    assert_eq!(marked_new(&fourth.json), new, "alarms marked new");
    assert_eq!(cmp["new"].as_u64(), Some(new.len() as u64));
    let resolved: BTreeSet<String> = cmp["resolved"]
        .as_array()
        .expect("resolved")
        .iter()
        .map(|r| key(r["control"].as_str().unwrap(), &r["finding"]))
        .collect();
    assert_eq!(resolved, gone, "resolved since the first run");

    // kq_runs: one row per run, with each report's score and counts.
    let rows = sql(
        &out,
        "SELECT run, score, alarm, ok, waived, controls, compared_with FROM kq_runs ORDER BY run_time, run",
    )
    .await;
    assert_eq!(rows.len(), runs.len(), "{rows:?}");
    for (row, run) in rows.iter().zip(runs) {
        assert_eq!(row["run"], run.name.as_str());
        assert_eq!(row["score"], run.json["score"]);
        assert_eq!(row["alarm"], run.json["totals"]["alarm"]);
        assert_eq!(row["ok"], run.json["totals"]["ok"]);
        assert_eq!(row["waived"], run.json["totals"]["waived"]);
        assert_eq!(
            row["controls"].as_u64(),
            run.json["controls"].as_array().map(|c| c.len() as u64)
        );
        let compared = run.json["comparison"]["previous_run"].as_str();
        assert_eq!(row["compared_with"].as_str(), compared, "{row}");
    }

    // kq_history: every finding of every run, by status.
    let rows = sql(
        &out,
        "SELECT run, status, count(*) AS n FROM kq_history GROUP BY run, status ORDER BY run, status",
    )
    .await;
    for run in runs {
        for status in ["ok", "alarm", "waived", "info", "skip", "error"] {
            let expected = run.json["totals"][status].as_u64().unwrap_or(0);
            let got = rows
                .iter()
                .find(|r| r["run"] == run.name.as_str() && r["status"] == status)
                .and_then(|r| r["n"].as_u64())
                .unwrap_or(0);
            assert_eq!(got, expected, "{} {status}", run.name);
        }
    }

    // A question history answers: alarms present in every run.
    let rows = sql(
        &out,
        "SELECT control, cluster, namespace, kind, name, dimensions FROM kq_history \
         WHERE status = 'alarm' GROUP BY control, cluster, namespace, kind, name, dimensions \
         HAVING count(DISTINCT run) = (SELECT count(*) FROM kq_runs)",
    )
    .await;
    let always: BTreeSet<String> = rows
        .iter()
        .map(|r| {
            let mut f = r.clone();
            // The JSON report leaves out empty dimensions; the table has NULL.
            match r["dimensions"].as_str() {
                Some(text) => f["dimensions"] = serde_json::from_str(text).expect("JSON"),
                None => {
                    f.as_object_mut().expect("row").remove("dimensions");
                }
            }
            key(r["control"].as_str().unwrap(), &f)
        })
        .collect();
    let alarms = |r: &Run| -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        for control in r.json["controls"].as_array().unwrap() {
            let id = control["control"]["id"].as_str().unwrap();
            for f in control["findings"].as_array().unwrap() {
                if f["status"] == "alarm" {
                    keys.insert(key(id, f));
                }
            }
        }
        keys
    };
    let mut expected = alarms(&first);
    for run in &runs[1..] {
        expected = expected.intersection(&alarms(run)).cloned().collect();
    }
    assert!(!expected.is_empty());
    assert_eq!(always, expected, "alarms in every run");

    // The chart in a browser: one point and one bar per run of the window,
    // carrying each run's score and alarms.
    let page = out
        .join("runs")
        .join(&fourth.name)
        .join("report.html")
        .canonicalize()
        .expect("the fourth run's report.html");
    let page_for_dom = page.clone();
    let dom = tokio::task::spawn_blocking(move || {
        chromium(
            &page_for_dom,
            &["--enable-logging=stderr", "--v=0", "--dump-dom"],
        )
    })
    .await
    .expect("join chromium");
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success(), "chromium failed:\n{log}");
    assert!(
        html.contains("data-ready=\"1\""),
        "the page's script did not finish:\n{log}"
    );
    let chart_start = html
        .find("<svg id=\"trend-chart\"")
        .expect("the trend chart");
    let chart = &html[chart_start..chart_start + html[chart_start..].find("</svg>").unwrap()];
    let attrs = |element: &str, attr: &str| -> Vec<String> {
        chart
            .split(&format!("<{element} "))
            .skip(1)
            .map(|tail| {
                let start = tail.find(&format!("{attr}=\"")).expect(attr) + attr.len() + 2;
                tail[start..start + tail[start..].find('"').unwrap()].to_string()
            })
            .collect()
    };
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    let scores: Vec<String> = runs
        .iter()
        .map(|r| format!("{:.1}", r.json["score"].as_f64().unwrap()))
        .collect();
    let alarm_counts: Vec<String> = runs
        .iter()
        .map(|r| r.json["totals"]["alarm"].to_string())
        .collect();
    assert_eq!(
        attrs("circle", "data-run"),
        names,
        "earlier runs, then this one"
    );
    assert_eq!(attrs("circle", "data-score"), scores);
    assert_eq!(attrs("rect", "data-alarm"), alarm_counts);
    let console = console_lines(&log, &page);
    assert!(
        console.is_empty(),
        "the page wrote to the console:\n{}",
        console.join("\n")
    );

    // A window with no earlier run says so; --keep-history prunes every
    // run but the new one, and the history tables follow.
    let fifth = report(
        &out,
        &[
            "--param",
            MORE_TRUSTED,
            "--since",
            "1ms",
            "--keep-history",
            "1ms",
        ],
    )
    .await;
    assert!(
        fifth.json.get("comparison").is_none(),
        "nothing to compare with"
    );
    let warnings = fifth.json["warnings"].to_string();
    assert!(
        warnings.contains("no earlier run in the last 1ms"),
        "{warnings}"
    );
    let rows = sql(&out, "SELECT run FROM kq_runs").await;
    assert_eq!(rows, vec![serde_json::json!({"run": fifth.name})]);
    let rows = sql(&out, "SELECT DISTINCT run FROM kq_history").await;
    assert_eq!(rows, vec![serde_json::json!({"run": fifth.name})]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_mistakes_are_one_sentence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--reports".into(),
                dir.path().join("missing").display().to_string(),
                "SELECT * FROM kq_runs".into(),
            ],
            "is not a report history: no such directory; give the --out directory of kq report",
        ),
        (
            vec![
                "--reports".into(),
                dir.path().display().to_string(),
                "SELECT * FROM kq_runs".into(),
            ],
            "it holds neither history/ nor runs/",
        ),
        (
            vec![
                "report".into(),
                "--demo".into(),
                "--since".into(),
                "30d".into(),
            ],
            "the following required arguments were not provided: --out <DIR>",
        ),
        (
            vec![
                "report".into(),
                "--since".into(),
                "soon".into(),
                "--out".into(),
                dir.path().display().to_string(),
            ],
            "'soon' is not a duration",
        ),
        (
            vec![
                "report".into(),
                "--since".into(),
                "30d".into(),
                "--keep-history".into(),
                "1d".into(),
                "--out".into(),
                dir.path().display().to_string(),
            ],
            "--keep-history 1day would remove runs of the --since 30d window",
        ),
        (
            vec![
                "report".into(),
                "--demo".into(),
                "--reports".into(),
                dir.path().display().to_string(),
            ],
            "--reports DIR is for queries over that history",
        ),
    ];
    for (args, expected) in cases {
        let run = run_kq_raw(args.clone()).await;
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {err}");
        assert!(stdout(&run).is_empty(), "{args:?}: nothing on stdout");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line:\n{err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}
