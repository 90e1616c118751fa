//! Headless Chromium for the tests that look at kq's HTML report.
//!
//! Chromium runs the way this machine needs it: no sandbox (root), no
//! GPU, and none of its background network traffic, with a fresh profile
//! per run.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::chromium_binary;

/// Runs headless Chromium on `page` with `extra` arguments and a fresh
/// profile; kills it if it takes longer than two minutes.
pub fn chromium(page: &Path, extra: &[&str]) -> Output {
    let profile = tempfile::tempdir().expect("chromium profile dir");
    let url = format!("file://{}", page.display());
    let mut child = Command::new(chromium_binary())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Read the pipes on their own threads so a big DOM cannot block Chromium.
    let mut out_pipe = child.stdout.take().expect("chromium stdout");
    let mut err_pipe = child.stderr.take().expect("chromium stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut out_pipe, &mut buf).map(|_| buf)
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut err_pipe, &mut buf).map(|_| buf)
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 2 minutes on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_reader
            .join()
            .expect("join stdout")
            .expect("read stdout"),
        stderr: err_reader
            .join()
            .expect("join stderr")
            .expect("read stderr"),
    }
}

/// Console lines the page produced: Chromium logs every console message,
/// CSP violation and uncaught exception as `CONSOLE` with its source URL.
pub fn console_lines(log: &str, page: &Path) -> Vec<String> {
    let url = format!("file://{}", page.display());
    log.lines()
        .filter(|l| (l.contains(":CONSOLE") && l.contains(&url)) || l.contains("Uncaught"))
        .map(str::to_string)
        .collect()
}
