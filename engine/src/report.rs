//! The report runner: evaluates controls over the session's clusters.
//!
//! Every control is planned before any runs, so a broken control stops the
//! report with one error naming its file instead of producing half a
//! report. Then the controls run concurrently; a control failing at run
//! time becomes an `error` result and the others still report. Which
//! clusters could not be read comes from the session's failure log.

use std::collections::BTreeMap;
use std::time::Instant;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement;
use futures::{StreamExt, TryStreamExt};

use kq_report::control::Selection;
use kq_report::{ClusterFailure, Control, ControlResult, Counts, Finding, Status};

use crate::{Engine, EngineError, clean_message};

/// The columns every control must return (the report contract).
pub const REQUIRED_COLUMNS: [&str; 6] =
    ["cluster", "namespace", "kind", "name", "status", "reason"];

/// How many controls run at once. Controls share the session's list
/// permits, so more would only queue behind them.
const CONCURRENT_CONTROLS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot set up the report's session: {0}")]
    Session(String),
    #[error("control {id} ({source_file}): {message}")]
    BadControl {
        id: String,
        source_file: String,
        message: String,
    },
}

struct Planned<'a> {
    control: &'a Control,
    /// The session the control was planned in, and runs in.
    engine: &'a Engine,
    plan: LogicalPlan,
}

fn bad(control: &Control, message: impl Into<String>) -> ReportError {
    ReportError::BadControl {
        id: control.info.id.clone(),
        source_file: control.info.source.clone(),
        message: message.into(),
    }
}

/// Plans every selected control; the first that cannot be planned is the error.
async fn plan_all<'a>(
    engine: &'a Engine,
    live_only: Option<&'a Engine>,
    selection: &'a Selection,
) -> Result<Vec<Planned<'a>>, ReportError> {
    let mut planned = Vec::with_capacity(selection.controls.len());
    for control in &selection.controls {
        let engine = match (&control.info.live, live_only) {
            (Some(_), Some(live)) => live,
            _ => engine,
        };
        let sql = control.bind(&selection.params);
        let mut statements = engine
            .parse(&sql)
            .map_err(|e| bad(control, e.to_string()))?;
        if statements.len() != 1 {
            return Err(bad(
                control,
                format!(
                    "a control is one query, this file holds {} statements",
                    statements.len()
                ),
            ));
        }
        let statement = statements.pop_front().expect("one statement");
        let is_query = matches!(&statement, Statement::Statement(s)
            if matches!(s.as_ref(), datafusion::sql::sqlparser::ast::Statement::Query(_)));
        if !is_query {
            return Err(bad(control, "a control must be a SELECT query"));
        }
        let plan = engine
            .plan_statement(statement)
            .await
            .map_err(|e| bad(control, e.to_string()))?;
        let schema = plan.schema();
        let missing: Vec<&str> = REQUIRED_COLUMNS
            .iter()
            .copied()
            .filter(|c| schema.field_with_unqualified_name(c).is_err())
            .collect();
        if !missing.is_empty() {
            return Err(bad(
                control,
                format!(
                    "a control returns the columns {}; this one lacks {}",
                    REQUIRED_COLUMNS.join(", "),
                    missing.join(", ")
                ),
            ));
        }
        planned.push(Planned {
            control,
            engine,
            plan,
        });
    }
    Ok(planned)
}

/// Evaluates the selection. Returns one result per control, in selection
/// order, and the clusters that failed while they ran.
pub async fn run_controls(
    engine: &Engine,
    selection: &Selection,
) -> Result<(Vec<ControlResult>, Vec<ClusterFailure>), ReportError> {
    // Controls that need live state read a sibling session without the
    // manifests (built only when both are in play).
    let needs_live_only =
        engine.kube().reads_manifests() && selection.controls.iter().any(|c| c.info.live.is_some());
    let live_only = if needs_live_only {
        Some(
            engine
                .without_manifests()
                .await
                .map_err(|e| ReportError::Session(e.to_string()))?,
        )
    } else {
        None
    };
    let planned = plan_all(engine, live_only.as_ref(), selection).await?;
    let mark = engine.failures().mark();
    let mut results: Vec<(usize, ControlResult)> =
        futures::stream::iter(planned.into_iter().enumerate())
            .map(|(i, p)| async move { (i, evaluate(engine, p).await) })
            .buffer_unordered(CONCURRENT_CONTROLS)
            .collect()
            .await;
    results.sort_by_key(|(i, _)| *i);
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Objects left out of the manifests were found before the run; the
    // report must still say that its findings miss them.
    let left_out = engine
        .failures()
        .all()
        .into_iter()
        .filter(|r| r.kind == kq_providers::failures::FailureKind::Manifest);
    for record in left_out.chain(engine.failures().since(mark)) {
        // Info records leave the rows complete: nothing failed.
        if record.severity == kq_providers::failures::Severity::Info {
            continue;
        }
        let messages = failures.entry(record.source.clone()).or_default();
        let line = format!(
            "{} ({}): {}",
            record.severity.as_str(),
            record.table,
            record.message
        );
        if !messages.contains(&line) {
            messages.push(line);
        }
    }
    let cluster_failures = failures
        .into_iter()
        .map(|(cluster, messages)| ClusterFailure {
            cluster,
            message: messages.join("; "),
        })
        .collect();
    Ok((
        results.into_iter().map(|(_, r)| r).collect(),
        cluster_failures,
    ))
}

async fn evaluate(engine: &Engine, planned: Planned<'_>) -> ControlResult {
    let started = Instant::now();
    let info = planned.control.info.clone();
    let ran_in = planned.engine;
    let outcome = async {
        let output = ran_in.execute_plan(planned.plan).await?;
        let batches: Vec<RecordBatch> = output
            .stream
            .try_collect()
            .await
            .map_err(|e| EngineError::Execution(clean_message(&e)))?;
        let mut findings = findings_of(&batches)?;
        // Only the session that read manifests has origins to give.
        locate(ran_in, &mut findings);
        if let Some(why) = &planned.control.info.live {
            not_evaluated_on_manifests(engine, why, &mut findings);
        }
        Ok::<_, EngineError>(findings)
    }
    .await;
    let duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(findings) => ControlResult {
            control: info,
            counts: Counts::of(&findings),
            findings,
            error: None,
            duration_ms,
        },
        Err(e) => ControlResult {
            control: info,
            counts: Counts::default(),
            findings: Vec::new(),
            error: Some(e.to_string()),
            duration_ms,
        },
    }
}

/// Points findings on objects read from manifests at their file and line.
fn locate(engine: &Engine, findings: &mut [Finding]) {
    let kube = engine.kube_schema();
    if !kube.reads_manifests() {
        return;
    }
    for f in findings.iter_mut() {
        if let Some(origin) =
            kube.manifest_origin(&f.cluster, f.namespace.as_deref(), &f.kind, &f.name)
        {
            f.location = Some(kq_report::SourceLocation {
                path: relative_to_working_dir(&origin.path),
                line: origin.line,
            });
        }
    }
}

/// A control that needs a live cluster says nothing about manifests (it
/// ran without them): each manifest set gets one `skip` saying why.
fn not_evaluated_on_manifests(engine: &Engine, why: &str, findings: &mut Vec<Finding>) {
    let sets = engine.kube_schema().manifest_set_names();
    for set in sets {
        findings.push(Finding {
            cluster: set.clone(),
            namespace: None,
            kind: "Cluster".to_string(),
            name: set,
            status: Status::Skip,
            reason: format!("not evaluated on manifests: the control {why}"),
            dimensions: BTreeMap::new(),
            change: None,
            waiver: None,
            location: None,
        });
    }
}

/// A path under the working directory relative to it (what SARIF viewers
/// resolve against the checkout); any other path as it is.
fn relative_to_working_dir(path: &str) -> String {
    let absolute = std::path::Path::new(path);
    if absolute.is_absolute()
        && let Ok(cwd) = std::env::current_dir()
        && let Ok(relative) = absolute.strip_prefix(&cwd)
    {
        return relative.to_string_lossy().into_owned();
    }
    path.to_string()
}

/// Turns a control's rows into findings. Columns beyond the contract's
/// become dimensions, as text.
fn findings_of(batches: &[RecordBatch]) -> Result<Vec<Finding>, EngineError> {
    let options = FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()
            .map_err(|e| EngineError::Execution(e.to_string()))?;
        let index = |name: &str| schema.index_of(name).expect("planned with this column");
        let [cluster, namespace, kind, name, status, reason] = REQUIRED_COLUMNS.map(index);
        let cell = |col: usize, row: usize| -> Option<String> {
            if batch.column(col).is_null(row) {
                None
            } else {
                Some(formatters[col].value(row).to_string())
            }
        };
        for row in 0..batch.num_rows() {
            let raw_status = cell(status, row).unwrap_or_default();
            let (status, mut reason) = match Status::from_sql(raw_status.trim()) {
                Some(s) => (s, cell(reason, row).unwrap_or_default()),
                None => (
                    Status::Error,
                    format!(
                        "the control returned status '{raw_status}', not ok, alarm, info, skip or error"
                    ),
                ),
            };
            if reason.is_empty() {
                reason = format!("{status}");
            }
            let mut dimensions = BTreeMap::new();
            for (col, field) in schema.fields().iter().enumerate() {
                if REQUIRED_COLUMNS.contains(&field.name().as_str()) {
                    continue;
                }
                if let Some(v) = cell(col, row) {
                    dimensions.insert(field.name().clone(), v);
                }
            }
            out.push(Finding {
                cluster: cell(cluster, row).unwrap_or_default(),
                namespace: cell(namespace, row).filter(|n| !n.is_empty()),
                kind: cell(kind, row).unwrap_or_default(),
                name: cell(name, row).unwrap_or_default(),
                status,
                reason,
                dimensions,
                change: None,
                waiver: None,
                location: None,
            });
        }
    }
    Ok(out)
}
