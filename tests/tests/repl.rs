//! The REPL as a user meets it: a real pseudo-terminal (tmux), keys typed
//! one by one, the screen read back. Covers multi-line SQL, tab
//! completion, `\d`, `\cache`, `\x`, `\o`, a change made with kubectl
//! showing up without `\refresh`, Ctrl-C cancelling a slow query and
//! clearing a line, errors that do not end the session, history, Ctrl-D.

use kq_tests::{Faults, FleetConfig, TestFleet, Tmux, kq_binary, kubectl_ok, stderr, stdout};

/// Waits for the `n`th prompt: the previous input has been handled.
async fn prompt(tmux: &Tmux, n: usize) -> String {
    tmux.wait_for_count("kq> ", n).await
}

/// Types `line`, presses Enter and waits for the next prompt; returns the
/// prompt count after it.
async fn command(tmux: &Tmux, prompts: usize, line: &str) -> usize {
    tmux.line(line);
    prompt(tmux, prompts + 1).await;
    prompts + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repl_in_a_terminal() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 20, 11)).await;
    let kc = fleet.kubeconfig.clone();
    kubectl_ok(
        &kc,
        &["--context", "cluster-0", "create", "namespace", "repl"],
    )
    .await;
    let history = fleet.dir.path().join("history");
    let tmux = Tmux::start(&format!(
        "env -u KUBECONFIG HOME={home} KQ_HISTORY={history} PAGER='sed s/^/paged:/' {kq} --kubeconfig {kc} -A",
        home = fleet.dir.path().display(),
        history = history.display(),
        kq = kq_binary().display(),
        kc = kc.display(),
    ));
    let mut prompts = 1;
    let screen = prompt(&tmux, prompts).await;
    assert!(
        screen.contains("2 clusters (cluster-0, cluster-1)"),
        "{screen}"
    );

    // A statement over two lines runs when the `;` arrives.
    tmux.line("SELECT cluster, count(*) AS pods");
    tmux.line("FROM pods GROUP BY cluster ORDER BY cluster;");
    prompts += 1;
    let screen = prompt(&tmux, prompts).await;
    assert!(screen.contains("│ cluster-0 │   20 │"), "{screen}");
    assert!(screen.contains("│ cluster-1 │   20 │"), "{screen}");
    assert!(screen.contains("(2 rows)"), "{screen}");

    // Tab completes a table name after FROM.
    tmux.type_text("SELECT name FROM namespa");
    tmux.keys(&["Tab"]);
    tmux.line(" WHERE name = 'repl';");
    prompts += 1;
    let screen = prompt(&tmux, prompts).await;
    assert!(
        screen.contains("SELECT name FROM namespaces WHERE name = 'repl';"),
        "{screen}"
    );
    assert!(screen.contains("│ repl │"), "{screen}");

    // \d TABLE describes columns.
    tmux.line("\\d pods");
    prompts += 1;
    let screen = prompt(&tmux, prompts).await;
    assert!(screen.contains("│ column"), "{screen}");
    assert!(screen.contains("│ node_name"), "{screen}");

    // A change made with kubectl reaches the cache by its watch: \cache
    // shows the new object, then the next query sees it (no \refresh).
    let pod = fleet.dir.path().join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: added-by-kubectl\n  namespace: repl\nspec:\n  containers:\n  - name: app\n    image: nginx:1.27\n",
    )
    .unwrap();
    kubectl_ok(
        &kc,
        &[
            "--context",
            "cluster-0",
            "apply",
            "-f",
            pod.to_str().unwrap(),
        ],
    )
    .await;
    loop {
        tmux.line("\\cache");
        prompts += 1;
        let screen = prompt(&tmux, prompts).await;
        let last = screen.rsplit("\\cache").next().unwrap_or_default();
        if last.contains("│ cluster-0 │ pods") && last.contains("│ 21 ") {
            assert!(last.contains("live"), "{last}");
            break;
        }
    }
    tmux.line("SELECT namespace, name FROM pods WHERE namespace = 'repl';");
    prompts += 1;
    let screen = prompt(&tmux, prompts).await;
    assert!(
        screen.contains("│ repl      │ added-by-kubectl │"),
        "{screen}"
    );

    // Expanded display and output formats.
    // Each line waits for its prompt, as a person does: the line editor
    // asks the terminal for the cursor position when a prompt starts and
    // drops keys typed ahead of the answer.
    prompts = command(&tmux, prompts, "\\x").await;
    prompts = command(
        &tmux,
        prompts,
        "SELECT name FROM pods WHERE namespace = 'repl';",
    )
    .await;
    let screen = tmux.screen();
    assert!(screen.contains("-[ RECORD 1 ]"), "{screen}");
    assert!(screen.contains("name | added-by-kubectl"), "{screen}");
    prompts = command(&tmux, prompts, "\\x").await;

    // \x auto: expanded only when the table is wider than the terminal.
    prompts = command(&tmux, prompts, "\\x auto").await;
    prompts = command(
        &tmux,
        prompts,
        "SELECT * FROM pods WHERE namespace = 'repl';",
    )
    .await;
    tmux.wait_for_count("-[ RECORD 1 ]", 2).await;
    prompts = command(
        &tmux,
        prompts,
        "SELECT name AS narrow FROM pods WHERE namespace = 'repl';",
    )
    .await;
    let screen = tmux.screen();
    assert!(screen.contains("│ narrow           │"), "{screen}");
    assert_eq!(screen.matches("-[ RECORD 1 ]").count(), 2, "{screen}");
    prompts = command(&tmux, prompts, "\\x off").await;

    // Taller than the terminal (50 lines): through $PAGER.
    prompts = command(&tmux, prompts, "SELECT value FROM generate_series(1, 80);").await;
    let screen = tmux.screen();
    assert!(screen.contains("paged:(80 rows)"), "{screen}");
    prompts = command(&tmux, prompts, "\\pset format ndjson").await;
    prompts = command(
        &tmux,
        prompts,
        "SELECT name FROM pods WHERE namespace = 'repl';",
    )
    .await;
    let screen = tmux.screen();
    assert!(
        screen.contains(r#"{"name":"added-by-kubectl"}"#),
        "{screen}"
    );
    tmux.line("\\pset format table");
    prompts += 1;
    prompt(&tmux, prompts).await;

    // An error is one line and the session goes on.
    tmux.line("SELECT nope FROM pods;");
    prompts += 1;
    let screen = prompt(&tmux, prompts).await;
    assert!(screen.contains("kq: "), "{screen}");
    assert!(!screen.contains("panicked"), "{screen}");

    // Ctrl-C cancels a query stuck on a slow cluster.
    fleet.cluster("cluster-1").set_faults(Faults {
        latency_ms: 120_000,
        ..Faults::default()
    });
    tmux.line("SELECT count(*) FROM services;");
    // The query is running once its progress line shows: the line editor
    // has returned the terminal, so Ctrl-C is a signal, not a typed key.
    tmux.wait_for("querying 2 clusters").await;
    tmux.keys(&["C-c"]);
    prompts += 1;
    let screen = prompt(&tmux, prompts).await;
    assert!(screen.contains("kq: query cancelled"), "{screen}");
    fleet.cluster("cluster-1").set_faults(Faults::default());

    // Ctrl-C at the prompt clears the line being typed.
    tmux.type_text("SELECT this is not run");
    tmux.keys(&["C-c"]);
    prompts += 1;
    prompt(&tmux, prompts).await;
    command(&tmux, prompts, "SELECT 40 + 2 AS answer;").await;
    let screen = tmux.screen();
    assert!(screen.contains("│     42 │"), "{screen}");
    assert!(!screen.contains("this is not run;"), "{screen}");

    // Ctrl-D leaves; the history file kept the statements.
    tmux.keys(&["C-d"]);
    for _ in 0..1200 {
        if tmux.exited() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        tmux.exited(),
        "kq did not exit on Ctrl-D:\n{}",
        tmux.screen()
    );
    let history = std::fs::read_to_string(&history).expect("history file");
    assert!(history.contains("SELECT 40 + 2 AS answer;"), "{history}");
    assert!(history.contains("\\d pods"), "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repl_reads_commands_from_a_pipe() {
    // Without a terminal the shell reads stdin: scripts can use \commands.
    let fleet = TestFleet::start(FleetConfig::uniform(1, 3, 5)).await;
    let kc = fleet.kubeconfig.clone();
    let saved = fleet.dir.path().join("saved.csv");
    let script = format!(
        "\\pset format csv\n\\o {}\nSELECT count(*) AS pods\nFROM pods;\n\\d pods\n\\o\n\\bogus\n\\c nope\nSELECT 1 AS one;\n\\o json\n",
        saved.display()
    );
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let home = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(kq_binary())
            .arg("--kubeconfig")
            .arg(&kc)
            .env_remove("KUBECONFIG")
            .env("HOME", home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let out = stdout(&output);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    // \o FILE took the query's result (and \d's), \o alone gave the
    // terminal back.
    let file = std::fs::read_to_string(&saved).expect("the \\o file");
    assert!(file.starts_with("pods\n3\n"), "{file}");
    assert!(file.contains("cluster"), "\\d went to the file too: {file}");
    assert!(!out.contains("pods\n3\n"), "{out}");
    assert!(out.contains("one\n1\n"), "{out}");
    // The old \o FORMAT still sets the format, and says how it is done now.
    assert!(err.contains("\\pset format json"), "{err}");
    assert!(err.contains("unknown command '\\bogus'"), "{err}");
    assert!(err.contains("unknown context 'nope'"), "{err}");
}
