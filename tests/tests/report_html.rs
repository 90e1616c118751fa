//! The HTML report in a real browser. `kq report --demo` writes it,
//! Debian's headless Chromium (`.ci/setup` installs it) opens it from
//! `file://`, and the test checks the DOM after the page's script ran,
//! that the page logged nothing to the console (no error, no blocked
//! load, no "Uncaught"), and takes a screenshot a person can look at.

use kq_tests::browser::{chromium, console_lines};
use kq_tests::{chromium_binary, latest_report_json, run_kq_raw, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_renders_in_chromium() {
    // Fail before the slow part when the browser is missing.
    let browser = chromium_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("reports");
    let run = run_kq_raw(vec![
        "report".into(),
        "--demo".into(),
        "--pack".into(),
        "baseline".into(),
        "--format".into(),
        "html".into(),
        "--out".into(),
        out.display().to_string(),
    ])
    .await;
    let page = out.join("latest").join("report.html");
    assert!(
        page.is_file(),
        "kq report wrote no {} (exit {:?})\nstdout:\n{}\nstderr:\n{}",
        page.display(),
        run.status.code(),
        stdout(&run),
        stderr(&run)
    );
    // The JSON is always written beside the other formats (history reads it).
    let report = latest_report_json(&out);
    let alarms = report["totals"]["alarm"].as_u64().expect("totals.alarm");
    assert!(alarms > 0, "the demo fleet fails some baseline controls");
    // Alarms at or above the default --fail-on exit 1; that is expected here.
    assert_eq!(run.status.code(), Some(1), "stderr:\n{}", stderr(&run));
    let score = format!("{:.1}", report["score"].as_f64().expect("score"));
    let first_control = report["controls"][0]["control"]["id"]
        .as_str()
        .expect("a control id")
        .to_string();
    let page = page.canonicalize().expect("canonical report path");

    // The DOM after the script ran: ready, filters shown, score and controls there.
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
    assert!(dom.status.success(), "{} failed:\n{log}", browser.display());
    assert!(
        html.contains("data-ready=\"1\""),
        "the page's script did not finish:\n{log}"
    );
    assert!(
        html.contains(&format!("<span class=\"v\" id=\"score\">{score}</span>")),
        "score {score} not in the page"
    );
    assert!(
        html.contains(&format!("<code>{first_control}</code>")),
        "{first_control} not in the page"
    );
    assert!(
        html.contains("<div class=\"filters\" id=\"filters\">"),
        "the filter bar stayed hidden"
    );
    let total: usize = report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["findings"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        html.matches("<tr data-s=").count(),
        total,
        "one table row per finding"
    );
    let console = console_lines(&log, &page);
    assert!(
        console.is_empty(),
        "the page wrote to the console:\n{}",
        console.join("\n")
    );

    // A screenshot, to look at (tests cannot judge looks; people can).
    let shot = std::env::temp_dir().join("kq-report.png");
    let _ = std::fs::remove_file(&shot);
    let shot_arg = format!("--screenshot={}", shot.display());
    let page_for_shot = page.clone();
    let png = tokio::task::spawn_blocking(move || {
        chromium(
            &page_for_shot,
            &[
                "--enable-logging=stderr",
                "--v=0",
                &shot_arg,
                "--window-size=1400,1800",
            ],
        )
    })
    .await
    .expect("join chromium");
    let log = String::from_utf8_lossy(&png.stderr);
    assert!(png.status.success(), "screenshot failed:\n{log}");
    let bytes = std::fs::read(&shot).expect("read the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is a PNG"
    );
    assert!(
        bytes.len() > 30_000,
        "the screenshot looks blank ({} bytes)",
        bytes.len()
    );
    let console = console_lines(&log, &page);
    assert!(
        console.is_empty(),
        "the page wrote to the console:\n{}",
        console.join("\n")
    );
    eprintln!("screenshot of the HTML report: {}", shot.display());
}
