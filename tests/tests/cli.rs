//! The command line's shape, through the real binary: subcommands with
//! their own flags, shared flags on either side of the subcommand, shell
//! completions that bash really completes with, man pages that man really
//! renders, and one sentence for every usage error.

use std::io::Write;
use std::process::{Command, Stdio};

use kq_sim::FleetConfig;
use kq_tests::{TestFleet, kq_binary, ndjson_rows, ok, required_on_path, stderr, stdout};

fn kq_plain(args: &[&str]) -> std::process::Output {
    Command::new(kq_binary())
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run kq")
}

/// What bash's completion function offers for `words` (the cursor on the
/// last word), using the script `kq completions bash` printed.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let bash = required_on_path("bash", "the completion test", "install bash");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let current = words[cword];
    let previous = words[cword - 1];
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; \
         _kq kq '{current}' '{previous}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.join(" "),
    );
    let output = Command::new(bash)
        .args(["--norc", "-c", &program])
        .output()
        .expect("run bash");
    assert!(output.status.success(), "bash: {}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_subcommands_flags_and_formats_from_the_same_definitions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("kq.bash");
    let generated = kq_plain(&["completions", "bash"]);
    std::fs::write(&script, ok(&generated)).expect("write the script");

    assert_eq!(bash_completes(&script, &["kq", "rep"]), ["report"]);
    let report_flags = bash_completes(&script, &["kq", "report", "--pa"]);
    assert!(
        report_flags.contains(&"--pack".to_string()),
        "{report_flags:?}"
    );
    assert!(
        report_flags.contains(&"--param".to_string()),
        "{report_flags:?}"
    );
    // Flags are offered where they belong: watch has no --pack.
    let watch_flags = bash_completes(&script, &["kq", "watch", "--pa"]);
    assert!(watch_flags.is_empty(), "{watch_flags:?}");
    let formats = bash_completes(&script, &["kq", "-o", ""]);
    for format in ["table", "json", "ndjson", "csv", "markdown", "sarif"] {
        assert!(formats.contains(&format.to_string()), "{formats:?}");
    }

    // Every shell clap_complete knows gets a script naming every subcommand.
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = ok(&kq_plain(&["completions", shell]));
        for subcommand in [
            "query", "tables", "describe", "watch", "report", "snapshot", "diff",
        ] {
            assert!(script.contains(subcommand), "{shell}: {subcommand}");
        }
    }
}

#[test]
fn man_renders_the_man_pages() {
    let man = required_on_path("man", "the man page test", ".ci/setup installs man-db");
    let groff = required_on_path(
        "groff",
        "the man page test",
        ".ci/setup installs groff-base",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    for (args, must_show) in [
        (
            vec!["man"],
            vec!["SUBCOMMANDS", "report", "snapshot", "--kubeconfig"],
        ),
        (
            vec!["man", "report"],
            vec!["kq-report", "--pack", "--fail-on", "--every"],
        ),
        (
            vec!["man", "watch"],
            vec!["kq-watch", "--changes", "--debounce"],
        ),
    ] {
        let page = dir.path().join(format!("{}.1", args.join("-")));
        let roff = kq_plain(&args);
        std::fs::write(&page, &roff.stdout).expect("write the page");
        assert!(roff.status.success(), "{args:?}: {}", stderr(&roff));
        // groff's warnings (-ww) are what a malformed page shows; -k
        // reads UTF-8 through preconv, as man does.
        let checked = Command::new(&groff)
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .expect("run groff");
        assert!(
            checked.status.success() && checked.stderr.is_empty(),
            "{args:?}: groff says {}",
            stderr(&checked)
        );
        let shown = Command::new(&man)
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("run man");
        let text = stdout(&shown);
        assert!(shown.status.success(), "{args:?}: {}", stderr(&shown));
        for needle in must_show {
            assert!(
                text.contains(needle),
                "{args:?}: {needle} not in the page:\n{text}"
            );
        }
    }
    let missing = kq_plain(&["man", "nosuch"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("kq has no subcommand 'nosuch'"));
}

#[test]
fn each_subcommand_helps_with_its_own_flags() {
    let report = ok(&kq_plain(&["report", "--help"]));
    assert!(report.contains("Usage: kq report"), "{report}");
    assert!(report.contains("--pack") && report.contains("--waivers"));
    assert!(
        !report.contains("--changes"),
        "watch's flags are not report's"
    );
    let watch = ok(&kq_plain(&["watch", "--help"]));
    assert!(watch.contains("--changes") && !watch.contains("--pack"));
    let top = ok(&kq_plain(&["--help"]));
    for subcommand in [
        "query",
        "tables",
        "describe",
        "watch",
        "report",
        "snapshot",
        "diff",
        "completions",
        "man",
    ] {
        assert!(
            top.contains(subcommand),
            "{subcommand} missing from kq --help"
        );
    }
    assert!(
        top.contains("Unlike kubectl's -A"),
        "-A says loudly that it means contexts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_flags_go_on_either_side_and_sql_comes_from_anywhere() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 20, 91)).await;
    let sql = "SELECT cluster, namespace, name FROM pods ORDER BY cluster, namespace, name";
    let baseline = ndjson_rows(&fleet.kq(&["-A", "-o", "ndjson", sql]).await);
    assert_eq!(baseline.len(), 40);

    let spelled_out = ndjson_rows(&fleet.kq(&["query", "-A", "-o", "ndjson", sql]).await);
    assert_eq!(spelled_out, baseline, "kq query is kq \"SQL\"");

    // -f - reads the statements from standard input.
    let mut child = Command::new(kq_binary())
        .args(["--kubeconfig"])
        .arg(&fleet.kubeconfig)
        .args(["-A", "-o", "ndjson", "-f", "-"])
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kq");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{sql};\n").as_bytes())
        .expect("write SQL");
    let from_stdin = child.wait_with_output().expect("kq ran");
    assert_eq!(
        ndjson_rows(&from_stdin),
        baseline,
        "{}",
        stderr(&from_stdin)
    );

    let before = ok(&fleet.kq(&["-A", "-o", "csv", "tables"]).await);
    let after = ok(&fleet.kq(&["tables", "-A", "-o", "csv"]).await);
    assert_eq!(before, after);
    assert!(before.starts_with("table,description\n"), "{before}");

    // kq report takes -o like every other subcommand; --format stays an alias.
    let dash_o = fleet
        .kq(&["report", "-A", "--pack", "baseline", "-o", "json"])
        .await;
    let format = fleet
        .kq(&["report", "-A", "--pack", "baseline", "--format", "json"])
        .await;
    let controls = |output: &std::process::Output| -> Vec<String> {
        let report: serde_json::Value =
            serde_json::from_str(&stdout(output)).expect("a JSON report");
        report["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .map(|c| format!("{}={}", c["id"], c["status"]))
            .collect()
    };
    assert!(!controls(&dash_o).is_empty());
    assert_eq!(controls(&dash_o), controls(&format));

    // A table function is not a misspelt table.
    let series = ok(&fleet
        .kq(&[
            "-A",
            "-o",
            "csv",
            "--no-header",
            "SELECT sum(value) FROM generate_series(1, 4)",
        ])
        .await);
    assert_eq!(series.trim(), "10");

    // Durations read as humantime does.
    ok(&fleet
        .kq(&[
            "--timeout",
            "1m30s",
            "-A",
            "SELECT count(*) FROM namespaces",
        ])
        .await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_are_one_sentence_and_exit_2() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 0, 5)).await;
    for (args, expected) in [
        (
            vec!["-f", "q.sql", "tables"],
            "-f/--file applies to queries",
        ),
        (
            vec!["--changes", "SELECT 1"],
            "--changes only applies to kq watch",
        ),
        (
            vec!["report", "--changes"],
            "--changes only applies to kq watch",
        ),
        (
            vec!["--every", "1h", "SELECT 1"],
            "--every only applies to kq report and kq snapshot",
        ),
        (
            vec!["-o", "junit", "SELECT 1"],
            "-o junit is a kq report format",
        ),
        (vec!["-o", "pdf", "SELECT 1"], "unknown output format 'pdf'"),
        (vec!["-o", "json,csv", "SELECT 1"], "prints one format"),
        (
            vec!["snapshot", "-o", "json", "--to", "x"],
            "-o does not apply",
        ),
        (vec!["--timeout", "0s", "SELECT 1"], "longer than 0"),
        (
            vec!["watch", "--for", "soon", "SELECT 1"],
            "is not a duration",
        ),
        (vec!["query"], "kq query needs SQL"),
        (vec!["describe"], "describe needs a table name"),
        (vec!["completions", "tcsh"], "invalid value 'tcsh'"),
        (
            vec!["--no-such-flag"],
            "unexpected argument '--no-such-flag'",
        ),
    ] {
        let output = fleet.kq(&args).await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expected),
            "{args:?}: {err:?} should contain {expected:?}"
        );
        assert!(err.starts_with("kq: "), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line, got {err:?}"
        );
        assert!(stdout(&output).is_empty(), "{args:?}: nothing on stdout");
    }
}

/// A kq built without `serve` says how to get one, in one sentence.
#[cfg(not(feature = "serve"))]
#[test]
fn a_lean_kq_says_how_to_get_kq_serve() {
    let output = kq_plain(&["serve", "--demo"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("built without kq serve"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_of_owners_joins_the_fleet() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 30, 92)).await;
    let namespaces: std::collections::BTreeSet<String> = fleet
        .fleet
        .clusters()
        .iter()
        .flat_map(|c| c.objects("pods"))
        .filter_map(|p| p["metadata"]["namespace"].as_str().map(str::to_string))
        .collect();
    // Every other namespace has an owner; the rest must not join.
    let owned: Vec<(String, String)> = namespaces
        .iter()
        .step_by(2)
        .enumerate()
        .map(|(i, ns)| (ns.clone(), format!("team-{}", i % 2)))
        .collect();
    let csv = fleet.dir.path().join("owners.csv");
    let mut text = String::from("namespace,team\n");
    for (namespace, team) in &owned {
        text.push_str(&format!("{namespace},{team}\n"));
    }
    std::fs::write(&csv, text).expect("write owners.csv");
    let script = fleet.dir.path().join("owners.sql");
    std::fs::write(
        &script,
        format!(
            "CREATE EXTERNAL TABLE owners STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true');\n\
             SELECT o.team, count(*) AS pods FROM pods p JOIN owners o ON p.namespace = o.namespace GROUP BY o.team ORDER BY o.team;",
            csv.display()
        ),
    )
    .expect("write the script");
    let output = fleet
        .kq(&["-A", "-o", "ndjson", "-f", script.to_str().expect("utf-8")])
        .await;
    let rows = ndjson_rows(&output);
    let mut expected: std::collections::BTreeMap<String, u64> = Default::default();
    for pod in fleet
        .fleet
        .clusters()
        .iter()
        .flat_map(|c| c.objects("pods"))
    {
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        if let Some((_, team)) = owned.iter().find(|(ns, _)| ns == namespace) {
            *expected.entry(team.clone()).or_default() += 1;
        }
    }
    let answered: std::collections::BTreeMap<String, u64> = rows
        .iter()
        .map(|r| {
            (
                r["team"].as_str().expect("team").to_string(),
                r["pods"].as_u64().expect("count"),
            )
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(answered, expected, "{}", stderr(&output));

    // As JSON, stdout is the one answer (the CREATE printed no `[]`), and
    // the command's tag goes where the row count goes.
    let output = fleet
        .kq(&["-A", "-o", "json", "-f", script.to_str().expect("utf-8")])
        .await;
    let json: serde_json::Value = serde_json::from_str(&ok(&output))
        .unwrap_or_else(|e| panic!("stdout is one JSON document: {e}\n{}", stdout(&output)));
    assert_eq!(json.as_array().map(Vec::len), Some(expected.len()));
    assert!(
        stderr(&output)
            .lines()
            .any(|l| l == "CREATE EXTERNAL TABLE"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_n_reads_one_namespace_as_kubectl_does() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 40, 93)).await;
    let cluster = fleet.fleet.clusters()[0].clone();
    let namespace = cluster.objects("pods")[0]["metadata"]["namespace"]
        .as_str()
        .expect("a namespace")
        .to_string();
    let listed = kq_tests::kubectl(
        &fleet.kubeconfig,
        &["get", "pods", "-n", &namespace, "-o", "name"],
    )
    .await;
    let mut kubectl_names: Vec<String> = stdout(&listed)
        .lines()
        .map(|l| l.trim_start_matches("pod/").to_string())
        .collect();
    kubectl_names.sort();
    assert!(!kubectl_names.is_empty());

    let before = cluster.counters().requests.len();
    let output = fleet
        .kq(&[
            "-n",
            &namespace,
            "-o",
            "ndjson",
            "SELECT namespace, name FROM pods ORDER BY name",
        ])
        .await;
    let rows = ndjson_rows(&output);
    let names: Vec<String> = rows
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, kubectl_names, "kq -n and kubectl -n agree");
    assert!(rows.iter().all(|r| r["namespace"] == namespace.as_str()));
    let lists: Vec<String> = cluster.counters().requests[before..]
        .iter()
        .filter(|r| r.verb == "list")
        .map(|r| r.path.clone())
        .collect();
    assert!(
        !lists.is_empty()
            && lists
                .iter()
                .all(|p| p.starts_with(&format!("/api/v1/namespaces/{namespace}/"))),
        "-n lists only in the namespace: {lists:?}"
    );
    // Cluster-scoped tables are not namespaced, so -n leaves them whole.
    let nodes = ok(&fleet
        .kq(&[
            "-n",
            &namespace,
            "-o",
            "csv",
            "--no-header",
            "SELECT count(*) FROM nodes",
        ])
        .await);
    assert_eq!(nodes.trim(), cluster.objects("nodes").len().to_string());

    // Live sessions (the shell, watch, serve) keep the whole cluster in
    // memory; -n still narrows every answer.
    let mut watch = kq_tests::KqProcess::spawn(
        &fleet.kubeconfig,
        &[
            "watch",
            "--changes",
            "-n",
            &namespace,
            "--for",
            "2s",
            "SELECT namespace, name FROM pods",
        ],
    );
    let mut watched = Vec::new();
    for _ in 0..kubectl_names.len() {
        let line = watch.next_json().await;
        assert_eq!(line["op"], "added", "{line}");
        assert_eq!(line["row"]["namespace"], namespace.as_str(), "{line}");
        watched.push(line["row"]["name"].as_str().expect("name").to_string());
    }
    watched.sort();
    assert_eq!(watched, kubectl_names);
    let (code, rest) = watch.wait().await;
    assert_eq!(code, Some(0));
    assert!(
        rest.iter().all(|l| !l.contains("\"added\"")),
        "no row from elsewhere: {rest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_v_shows_each_request_and_never_a_credential() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 10, 94)).await;
    let output = fleet
        .kq(&[
            "-v",
            "-A",
            "SELECT count(*) FROM pods WHERE labels['app'] = 'web'",
        ])
        .await;
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    for cluster in fleet.fleet.clusters() {
        let line = err
            .lines()
            .find(|l| l.ends_with(&format!("[{}]", cluster.name())) && l.contains("/pods?"))
            .unwrap_or_else(|| panic!("no request line for {}: {err}", cluster.name()));
        assert!(
            line.starts_with("kq: GET /api/v1/pods?limit=500&labelSelector=app%3Dweb -> 200 "),
            "{line}"
        );
        assert!(line.contains(" bytes ") && line.contains(" ms "), "{line}");
    }
    let kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&fleet.kubeconfig).expect("kubeconfig"))
            .expect("YAML");
    let tokens: Vec<&str> = kubeconfig["users"]
        .as_sequence()
        .expect("users")
        .iter()
        .filter_map(|u| u["user"]["token"].as_str())
        .collect();
    assert!(!tokens.is_empty(), "the sim's users carry bearer tokens");
    for token in tokens {
        assert!(!err.contains(token), "a token leaked: {err}");
    }
    // Without -v, nothing of the kind.
    let quiet = fleet.kq(&["-A", "SELECT count(*) FROM pods"]).await;
    assert!(!stderr(&quiet).contains("GET /api"), "{}", stderr(&quiet));
}
