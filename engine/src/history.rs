//! Report history as Parquet: every `kq report --out DIR` run appends its
//! findings and one summary row, and queries read them as the tables
//! `kq_history` and `kq_runs` (`kq --reports DIR`).
//!
//! ```text
//! OUT/history/findings/2026-11-21T06-00-00Z.parquet   one row per finding
//! OUT/history/runs/2026-11-21T06-00-00Z.parquet       one row per run
//! ```
//!
//! One file per run and table, written under a temporary name (which the
//! tables' `.parquet` filter skips) and renamed into place, so a reader
//! sees whole runs only. The rendered reports under `OUT/runs/` may be
//! pruned by `--keep`; the history stays until `--keep-history` removes
//! it, so `kq report --since 30d` can compare with a run whose rendered
//! report is gone.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampSecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use kq_report::history::{run_order, run_time};
use kq_report::{
    AppliedWaiver, ControlInfo, ControlResult, Counts, Finding, Report, Severity, Status,
    TrendPoint,
};

/// The table of every run's findings.
pub const FINDINGS_TABLE: &str = "kq_history";
/// The table of one summary row per run.
pub const RUNS_TABLE: &str = "kq_runs";

const HISTORY_DIR: &str = "history";
const FINDINGS_DIR: &str = "findings";
const RUNS_DIR: &str = "runs";
const EXTENSION: &str = ".parquet";
/// Temporary files of a writer that died are removed after this long
/// (a live writer renames its file within seconds).
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot write the report history under {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot read the report history file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{path} is not a report history: {message}")]
    NotHistory { path: String, message: String },
}

fn write_err(path: &Path, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> HistoryError {
    HistoryError::Write {
        path: path.display().to_string(),
        source: e.into(),
    }
}

fn read_err(path: &Path, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> HistoryError {
    HistoryError::Read {
        path: path.display().to_string(),
        source: e.into(),
    }
}

fn utc_timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// Column descriptions travel as field metadata, as on every kq table
/// (`kq describe kq_history`).
fn described(field: Field, description: &str) -> Field {
    field.with_metadata(HashMap::from([(
        "description".to_string(),
        description.to_string(),
    )]))
}

fn described_table(description: &str) -> HashMap<String, String> {
    HashMap::from([("description".to_string(), description.to_string())])
}

/// `kq_history`: one row per finding of every run.
pub fn findings_schema() -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        vec![
            described(
                Field::new("run_time", utc_timestamp(), false),
                "When the run started",
            ),
            described(
                Field::new("run", DataType::Utf8, false),
                "The run's id (its directory under OUT/runs)",
            ),
            described(
                Field::new("control", DataType::Utf8, false),
                "Control id (baseline.privileged)",
            ),
            described(
                Field::new("pack", DataType::Utf8, false),
                "The control's pack",
            ),
            described(
                Field::new("severity", DataType::Utf8, false),
                "The control's severity: info, low, medium, high or critical",
            ),
            described(
                Field::new("cluster", DataType::Utf8, false),
                "Cluster of the resource",
            ),
            described(
                Field::new("namespace", DataType::Utf8, true),
                "Namespace of the resource; NULL when cluster-scoped",
            ),
            described(
                Field::new("kind", DataType::Utf8, false),
                "Kind of the resource",
            ),
            described(
                Field::new("name", DataType::Utf8, false),
                "Name of the resource",
            ),
            described(
                Field::new("status", DataType::Utf8, false),
                "ok, alarm, waived, info, skip or error",
            ),
            described(
                Field::new("reason", DataType::Utf8, false),
                "Why, as the control said it",
            ),
            described(
                Field::new("dimensions", DataType::Utf8, true),
                "Further columns the control returned (container, port…), as a JSON object; NULL when none",
            ),
            described(
                Field::new("change", DataType::Utf8, true),
                "new or persisting for an alarm, relative to the run compared with; NULL otherwise",
            ),
            described(
                Field::new("waiver_reason", DataType::Utf8, true),
                "The reason of the waiver that applied",
            ),
            described(
                Field::new("waiver_expires", DataType::Date32, true),
                "The last day that waiver applies",
            ),
        ],
        described_table("Every finding of every kq report run under --reports DIR"),
    ))
}

/// `kq_runs`: one row per run.
pub fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        vec![
            described(
                Field::new("run_time", utc_timestamp(), false),
                "When the run started",
            ),
            described(
                Field::new("run", DataType::Utf8, false),
                "The run's id (its directory under OUT/runs)",
            ),
            described(
                Field::new("finished_time", utc_timestamp(), true),
                "When the run finished",
            ),
            described(
                Field::new("duration_seconds", DataType::Int64, true),
                "How long the run took",
            ),
            described(
                Field::new("kq_version", DataType::Utf8, false),
                "The kq that ran it",
            ),
            described(
                Field::new("clusters", text_list(), false),
                "Clusters the run read",
            ),
            described(
                Field::new("clusters_not_read", text_list(), false),
                "Clusters that could not be (fully) read",
            ),
            described(Field::new("packs", text_list(), false), "Packs run"),
            described(
                Field::new("score", DataType::Float64, false),
                "Severity-weighted share of passing results, 0 to 100",
            ),
            described(
                Field::new("ok", DataType::Int64, false),
                "Findings by status: ok",
            ),
            described(
                Field::new("alarm", DataType::Int64, false),
                "Findings by status: alarm",
            ),
            described(
                Field::new("waived", DataType::Int64, false),
                "Findings by status: waived",
            ),
            described(
                Field::new("info", DataType::Int64, false),
                "Findings by status: info",
            ),
            described(
                Field::new("skip", DataType::Int64, false),
                "Findings by status: skip",
            ),
            described(
                Field::new("error", DataType::Int64, false),
                "Findings by status: error",
            ),
            described(
                Field::new("controls", DataType::Int64, false),
                "Controls run",
            ),
            described(
                Field::new("controls_failing", DataType::Int64, false),
                "Controls with at least one alarm",
            ),
            described(
                Field::new("controls_errored", DataType::Int64, false),
                "Controls that failed or returned error rows",
            ),
            described(
                Field::new("compared_with", DataType::Utf8, true),
                "The run this one was compared with; NULL for the first",
            ),
            described(
                Field::new("new", DataType::Int64, true),
                "Alarms not in the run compared with",
            ),
            described(
                Field::new("persisting", DataType::Int64, true),
                "Alarms also in the run compared with",
            ),
            described(
                Field::new("resolved", DataType::Int64, true),
                "Alarms of the run compared with that are gone",
            ),
        ],
        described_table("One row per kq report run under --reports DIR: score and counts"),
    ))
}

fn history_dir(out: &Path) -> PathBuf {
    out.join(HISTORY_DIR)
}

fn findings_dir(out: &Path) -> PathBuf {
    history_dir(out).join(FINDINGS_DIR)
}

fn runs_dir(out: &Path) -> PathBuf {
    history_dir(out).join(RUNS_DIR)
}

fn rfc3339_seconds(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp())
}

fn epoch_days(date: &str) -> Option<i32> {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((day - epoch).num_days()).ok()
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn list_array(rows: &[&[String]]) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for row in rows {
        for value in row.iter() {
            builder.values().append_value(value);
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn findings_batch(run: &str, report: &Report) -> Result<RecordBatch, String> {
    let time = rfc3339_seconds(&report.started)
        .or_else(|| run_time(run).map(|t| t.timestamp()))
        .ok_or_else(|| format!("the run's start time '{}' is not RFC 3339", report.started))?;
    let rows: Vec<(&ControlResult, &Finding)> = report
        .controls
        .iter()
        .flat_map(|c| c.findings.iter().map(move |f| (c, f)))
        .collect();
    let text = |f: &dyn Fn(&ControlResult, &Finding) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|(c, x)| f(c, x)),
        ))
    };
    let optional = |f: &dyn Fn(&ControlResult, &Finding) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(|(c, x)| f(c, x))))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampSecondArray::from(vec![time; rows.len()]).with_timezone("UTC")),
        text(&|_, _| run.to_string()),
        text(&|c, _| c.control.id.clone()),
        text(&|c, _| c.control.pack.clone()),
        text(&|c, _| c.control.severity.to_string()),
        text(&|_, f| f.cluster.clone()),
        optional(&|_, f| f.namespace.clone()),
        text(&|_, f| f.kind.clone()),
        text(&|_, f| f.name.clone()),
        text(&|_, f| f.status.as_str().to_string()),
        text(&|_, f| f.reason.clone()),
        optional(&|_, f| {
            (!f.dimensions.is_empty())
                .then(|| serde_json::to_string(&f.dimensions).unwrap_or_default())
        }),
        optional(&|_, f| f.change.map(|c| c.as_str().to_string())),
        optional(&|_, f| f.waiver.as_ref().map(|w| w.reason.clone())),
        Arc::new(Date32Array::from_iter(rows.iter().map(|(_, f)| {
            f.waiver
                .as_ref()
                .and_then(|w| w.expires.as_deref())
                .and_then(epoch_days)
        }))),
    ];
    RecordBatch::try_new(findings_schema(), columns).map_err(|e| e.to_string())
}

fn runs_batch(run: &str, report: &Report) -> Result<RecordBatch, String> {
    let started = rfc3339_seconds(&report.started)
        .or_else(|| run_time(run).map(|t| t.timestamp()))
        .ok_or_else(|| format!("the run's start time '{}' is not RFC 3339", report.started))?;
    let finished = rfc3339_seconds(&report.finished);
    let not_read: Vec<String> = report
        .cluster_failures
        .iter()
        .map(|f| f.cluster.clone())
        .collect();
    let t = &report.totals;
    let cmp = report.comparison.as_ref();
    let one = |n: u64| -> ArrayRef { Arc::new(Int64Array::from(vec![count(n)])) };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampSecondArray::from(vec![started]).with_timezone("UTC")),
        Arc::new(StringArray::from(vec![run])),
        Arc::new(TimestampSecondArray::from(vec![finished]).with_timezone("UTC")),
        Arc::new(Int64Array::from(vec![finished.map(|f| f - started)])),
        Arc::new(StringArray::from(vec![report.kq_version.as_str()])),
        list_array(&[&report.clusters]),
        list_array(&[&not_read]),
        list_array(&[&report.packs]),
        Arc::new(Float64Array::from(vec![report.score])),
        one(t.ok),
        one(t.alarm),
        one(t.waived),
        one(t.info),
        one(t.skip),
        one(t.error),
        one(report.controls.len() as u64),
        one(report.failing() as u64),
        one(report.errors() as u64),
        Arc::new(StringArray::from(vec![cmp.map(|c| c.previous_run.clone())])),
        Arc::new(Int64Array::from(vec![cmp.map(|c| count(c.new))])),
        Arc::new(Int64Array::from(vec![cmp.map(|c| count(c.persisting))])),
        Arc::new(Int64Array::from(vec![
            cmp.map(|c| count(c.resolved.len() as u64)),
        ])),
    ];
    RecordBatch::try_new(runs_schema(), columns).map_err(|e| e.to_string())
}

/// zstd and dictionary pages: a run of a large fleet repeats the same
/// controls, clusters, kinds and reasons on every row.
fn writer_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(format!("kq {}", env!("CARGO_PKG_VERSION")))
        .build()
}

fn write_parquet(dir: &Path, run: &str, batch: &RecordBatch) -> Result<(), HistoryError> {
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    let path = dir.join(format!("{run}{EXTENSION}"));
    let tmp = dir.join(format!(".{run}.{}.tmp", std::process::id()));
    let file = File::create(&tmp).map_err(|e| write_err(&tmp, e))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(writer_props()))
        .map_err(|e| write_err(&tmp, e))?;
    writer.write(batch).map_err(|e| write_err(&tmp, e))?;
    let file = writer.into_inner().map_err(|e| write_err(&tmp, e))?;
    file.sync_all().map_err(|e| write_err(&tmp, e))?;
    // A hard link appears atomically and fails if the name is taken: a
    // run never replaces another's history.
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| write_err(&path, e))
}

/// Appends a finished run to the history under `out`. `run` is the name
/// the run's directory got (its id, unless two runs shared a second).
/// The findings go first: a run listed in `kq_runs` has its findings.
pub fn append(out: &Path, run: &str, report: &Report) -> Result<(), HistoryError> {
    let findings = findings_batch(run, report).map_err(|e| write_err(&findings_dir(out), e))?;
    let summary = runs_batch(run, report).map_err(|e| write_err(&runs_dir(out), e))?;
    write_parquet(&findings_dir(out), run, &findings)?;
    write_parquet(&runs_dir(out), run, &summary)
}

/// Runs in the history, oldest first (names sort by time).
pub fn run_names(out: &Path) -> Result<Vec<String>, HistoryError> {
    let dir = runs_dir(out);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(&dir, e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let run = name.strip_suffix(EXTENSION)?.to_string();
            (!run.starts_with('.') && run_time(&run).is_some()).then_some(run)
        })
        .collect();
    names.sort_by(|a, b| run_order(a).cmp(&run_order(b)));
    Ok(names)
}

fn read_batches(path: &Path) -> Result<Vec<RecordBatch>, HistoryError> {
    let file = File::open(path).map_err(|e| read_err(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| read_err(path, e))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_err(path, e))
}

fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    name: &str,
    path: &Path,
) -> Result<&'a T, HistoryError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| HistoryError::NotHistory {
            path: path.display().to_string(),
            message: format!("column {name} is missing or has another type"),
        })
}

fn text_at(array: &StringArray, row: usize) -> Option<String> {
    (!array.is_null(row)).then(|| array.value(row).to_string())
}

/// The violations (alarms and waived alarms) of one past run, as a report
/// [`kq_report::history::compare`] can compare a new run with.
pub fn load_violations(out: &Path, run: &str) -> Result<Report, HistoryError> {
    let path = findings_dir(out).join(format!("{run}{EXTENSION}"));
    let mut controls: BTreeMap<String, ControlResult> = BTreeMap::new();
    for batch in read_batches(&path)? {
        let control = column::<StringArray>(&batch, "control", &path)?;
        let pack = column::<StringArray>(&batch, "pack", &path)?;
        let severity = column::<StringArray>(&batch, "severity", &path)?;
        let cluster = column::<StringArray>(&batch, "cluster", &path)?;
        let namespace = column::<StringArray>(&batch, "namespace", &path)?;
        let kind = column::<StringArray>(&batch, "kind", &path)?;
        let name = column::<StringArray>(&batch, "name", &path)?;
        let status = column::<StringArray>(&batch, "status", &path)?;
        let reason = column::<StringArray>(&batch, "reason", &path)?;
        let dimensions = column::<StringArray>(&batch, "dimensions", &path)?;
        let waiver_reason = column::<StringArray>(&batch, "waiver_reason", &path)?;
        for row in 0..batch.num_rows() {
            let status = match status.value(row) {
                "alarm" => Status::Alarm,
                "waived" => Status::Waived,
                _ => continue,
            };
            let id = control.value(row).to_string();
            let result = controls.entry(id.clone()).or_insert_with(|| ControlResult {
                control: ControlInfo {
                    id,
                    pack: pack.value(row).to_string(),
                    title: String::new(),
                    severity: Severity::parse(severity.value(row)).unwrap_or(Severity::Info),
                    frameworks: Vec::new(),
                    rationale: String::new(),
                    remediation: String::new(),
                    source: String::new(),
                    live: None,
                },
                counts: Counts::default(),
                findings: Vec::new(),
                error: None,
                duration_ms: 0,
            });
            let dims: BTreeMap<String, String> = text_at(dimensions, row)
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| read_err(&path, e))?
                .unwrap_or_default();
            result.counts.add(status);
            result.findings.push(Finding {
                cluster: cluster.value(row).to_string(),
                namespace: text_at(namespace, row),
                kind: kind.value(row).to_string(),
                name: name.value(row).to_string(),
                status,
                reason: reason.value(row).to_string(),
                dimensions: dims,
                change: None,
                waiver: text_at(waiver_reason, row).map(|reason| AppliedWaiver {
                    resource: String::new(),
                    reason,
                    expires: None,
                }),
                location: None,
            });
        }
    }
    Ok(Report {
        run: run.to_string(),
        kq_version: String::new(),
        started: String::new(),
        finished: String::new(),
        clusters: Vec::new(),
        packs: Vec::new(),
        params: BTreeMap::new(),
        controls: controls.into_values().collect(),
        cluster_failures: Vec::new(),
        warnings: Vec::new(),
        score: 0.0,
        totals: Counts::default(),
        comparison: None,
        trend: Vec::new(),
    })
}

/// Score and alarms of the given runs, for the trend chart.
pub fn trend(out: &Path, runs: &[String]) -> Result<Vec<TrendPoint>, HistoryError> {
    let mut points = Vec::with_capacity(runs.len());
    for run in runs {
        let path = runs_dir(out).join(format!("{run}{EXTENSION}"));
        for batch in read_batches(&path)? {
            let time = column::<TimestampSecondArray>(&batch, "run_time", &path)?;
            let score = column::<Float64Array>(&batch, "score", &path)?;
            let alarm = column::<Int64Array>(&batch, "alarm", &path)?;
            for row in 0..batch.num_rows() {
                points.push(TrendPoint {
                    run: run.clone(),
                    time: DateTime::from_timestamp(time.value(row), 0)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default(),
                    // A damaged file must not break the chart's line.
                    score: Some(score.value(row))
                        .filter(|s| s.is_finite())
                        .unwrap_or(0.0),
                    alarm: u64::try_from(alarm.value(row)).unwrap_or(0),
                });
            }
        }
    }
    Ok(points)
}

/// Removes the history of runs that started before `cutoff`, except
/// `current` (the run just written, whose second may lie before a cutoff
/// measured in milliseconds), and temporary files writers left behind.
/// Returns the runs removed.
pub fn prune(
    out: &Path,
    cutoff: DateTime<Utc>,
    current: &str,
) -> Result<Vec<String>, HistoryError> {
    let mut removed = std::collections::BTreeSet::new();
    // Both directories: a writer that died between the two files leaves
    // findings without a summary, and those age out too.
    for dir in [runs_dir(out), findings_dir(out)] {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(read_err(&dir, e)),
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let file = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let stale_tmp = file.starts_with('.')
                && file.ends_with(".tmp")
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_TMP);
            let old_run = file
                .strip_suffix(EXTENSION)
                .filter(|run| *run != current)
                .filter(|run| run_time(run).is_some_and(|t| t < cutoff));
            if !stale_tmp && old_run.is_none() {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(write_err(&path, e)),
            }
            if let Some(run) = old_run {
                removed.insert(run.to_string());
            }
        }
    }
    let mut removed: Vec<String> = removed.into_iter().collect();
    removed.sort_by(|a, b| run_order(a).cmp(&run_order(b)));
    Ok(removed)
}

/// The two tables over the history under `out` (a `kq report --out`
/// directory). An empty or missing history gives empty tables; a
/// directory that holds neither a history nor runs is refused, since a
/// mistyped path would otherwise answer "no findings".
pub fn tables(out: &Path) -> Result<Vec<(&'static str, Arc<ListingTable>)>, HistoryError> {
    if !out.is_dir() {
        return Err(HistoryError::NotHistory {
            path: out.display().to_string(),
            message: "no such directory; give the --out directory of kq report".into(),
        });
    }
    if !history_dir(out).is_dir() && !out.join("runs").is_dir() {
        return Err(HistoryError::NotHistory {
            path: out.display().to_string(),
            message: "it holds neither history/ nor runs/; give the --out directory of kq report"
                .into(),
        });
    }
    let mut tables = Vec::new();
    for (name, dir, schema) in [
        (FINDINGS_TABLE, findings_dir(out), findings_schema()),
        (RUNS_TABLE, runs_dir(out), runs_schema()),
    ] {
        // Not created here: reading must not write. A directory the first
        // run creates later is listed by the next query.
        let dir = std::path::absolute(&dir).map_err(|e| read_err(&dir, e))?;
        let url =
            ListingTableUrl::parse(format!("{}/", dir.display())).map_err(|e| read_err(&dir, e))?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(EXTENSION);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(schema);
        let table = ListingTable::try_new(config).map_err(|e| read_err(&dir, e))?;
        tables.push((name, Arc::new(table)));
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(namespace: Option<&str>, kind: &str, name: &str, status: Status) -> Finding {
        Finding {
            cluster: "prod".into(),
            namespace: namespace.map(str::to_string),
            kind: kind.into(),
            name: name.into(),
            status,
            reason: format!("{name} is {}", status.as_str()),
            dimensions: BTreeMap::new(),
            change: None,
            waiver: None,
            location: None,
        }
    }

    /// Two controls: alarms (one with a dimension), a waived alarm, oks.
    fn sample_report() -> Report {
        let mut alarm = finding(Some("shop"), "Pod", "web", Status::Alarm);
        alarm.dimensions.insert("container".into(), "app".into());
        let mut waived = finding(Some("kube-system"), "DaemonSet", "proxy", Status::Waived);
        waived.waiver = Some(AppliedWaiver {
            resource: "*/kube-system/*/*".into(),
            reason: "system component".into(),
            expires: Some("2027-01-31".into()),
        });
        let control = |id: &str, findings: Vec<Finding>| ControlResult {
            control: ControlInfo {
                id: id.into(),
                pack: "baseline".into(),
                title: id.into(),
                severity: Severity::High,
                frameworks: Vec::new(),
                rationale: String::new(),
                remediation: String::new(),
                source: String::new(),
                live: None,
            },
            counts: Counts::default(),
            findings,
            error: None,
            duration_ms: 1,
        };
        let mut report = Report {
            run: "2026-11-21T06-00-00Z".into(),
            kq_version: "0.1.0".into(),
            started: "2026-11-21T06:00:00Z".into(),
            finished: "2026-11-21T06:00:02Z".into(),
            clusters: vec!["prod".into()],
            packs: vec!["baseline".into()],
            params: BTreeMap::new(),
            controls: vec![
                control(
                    "baseline.privileged",
                    vec![
                        alarm,
                        waived,
                        finding(Some("shop"), "Pod", "api", Status::Ok),
                    ],
                ),
                control(
                    "baseline.host_ports",
                    vec![finding(None, "Node", "n1", Status::Alarm)],
                ),
            ],
            cluster_failures: Vec::new(),
            warnings: Vec::new(),
            score: 0.0,
            totals: Counts::default(),
            comparison: None,
            trend: Vec::new(),
        };
        report.finish();
        report
    }

    #[test]
    fn a_run_round_trips_its_violations_and_summary() {
        let dir = tempfile::tempdir().unwrap();
        let report = sample_report();
        append(dir.path(), &report.run, &report).unwrap();
        assert_eq!(run_names(dir.path()).unwrap(), vec![report.run.clone()]);

        let loaded = load_violations(dir.path(), &report.run).unwrap();
        let violations = |r: &Report| -> Vec<(String, String, Status)> {
            let mut v: Vec<_> = r
                .controls
                .iter()
                .flat_map(|c| {
                    c.findings
                        .iter()
                        .filter(|f| matches!(f.status, Status::Alarm | Status::Waived))
                        .map(|f| (c.control.id.clone(), f.resource_path(), f.status))
                })
                .collect();
            v.sort();
            v
        };
        assert!(!violations(&report).is_empty(), "the sample has alarms");
        assert_eq!(violations(&loaded), violations(&report));

        // Comparing a run with its own history finds nothing new or gone.
        let mut again = report.clone();
        kq_report::history::compare(&loaded, &mut again);
        let cmp = again.comparison.unwrap();
        assert_eq!(cmp.new, 0);
        assert!(cmp.resolved.is_empty());

        let points = trend(dir.path(), std::slice::from_ref(&report.run)).unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].score, report.score);
        assert_eq!(points[0].alarm, report.totals.alarm);
    }

    #[test]
    fn prune_removes_runs_before_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let report = sample_report();
        for run in [
            "2026-11-01T00-00-00Z",
            "2026-11-10T00-00-00Z",
            "2026-11-20T00-00-00Z",
        ] {
            append(dir.path(), run, &report).unwrap();
        }
        let cutoff = run_time("2026-11-10T00-00-00Z").unwrap();
        assert_eq!(
            prune(dir.path(), cutoff, "2026-11-20T00-00-00Z").unwrap(),
            ["2026-11-01T00-00-00Z"]
        );
        assert_eq!(
            run_names(dir.path()).unwrap(),
            ["2026-11-10T00-00-00Z", "2026-11-20T00-00-00Z"]
        );
        assert!(
            !findings_dir(dir.path())
                .join("2026-11-01T00-00-00Z.parquet")
                .exists()
        );
        // The run just written stays, whatever the cutoff.
        let all = run_time("2026-12-01T00-00-00Z").unwrap();
        assert_eq!(
            prune(dir.path(), all, "2026-11-20T00-00-00Z").unwrap(),
            ["2026-11-10T00-00-00Z"]
        );
        assert_eq!(run_names(dir.path()).unwrap(), ["2026-11-20T00-00-00Z"]);
        assert!(
            append(dir.path(), "2026-11-20T00-00-00Z", &report).is_err(),
            "a run never replaces another's history"
        );
        // Findings whose summary was never written (the writer died) age out too.
        let findings = findings_batch("2026-11-05T00-00-00Z", &report).unwrap();
        write_parquet(&findings_dir(dir.path()), "2026-11-05T00-00-00Z", &findings).unwrap();
        assert_eq!(
            prune(dir.path(), all, "2026-11-20T00-00-00Z").unwrap(),
            ["2026-11-05T00-00-00Z"]
        );
    }

    /// A long-lived session (the REPL, kq serve) sees runs written after
    /// it started, and runs pruned since are gone without an error.
    #[tokio::test]
    async fn a_session_sees_runs_written_after_it_started() {
        use futures::StreamExt;
        use kq_providers::failures::FailureLog;
        use kq_providers::kubernetes::KubeSchema;
        let dir = tempfile::tempdir().unwrap();
        let report = sample_report();
        append(dir.path(), "2026-11-01T00-00-00Z", &report).unwrap();
        let failures = FailureLog::new();
        let kube = KubeSchema::new(
            Vec::new(),
            failures.clone(),
            Default::default(),
            Default::default(),
        );
        let engine = crate::Engine::new(kube, failures, Vec::new()).unwrap();
        engine.register_report_history(dir.path()).unwrap();
        let count = || async {
            let statement = engine
                .parse("SELECT count(*) FROM kq_runs")
                .unwrap()
                .pop_front()
                .unwrap();
            let mut stream = engine.run_statement(statement).await.unwrap().stream;
            let batch = stream.next().await.unwrap().unwrap();
            batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0)
        };
        assert_eq!(count().await, 1);
        append(dir.path(), "2026-11-02T00-00-00Z", &report).unwrap();
        assert_eq!(count().await, 2, "a run written after the first query");
        let cutoff = run_time("2026-11-02T00-00-00Z").unwrap();
        prune(dir.path(), cutoff, "2026-11-02T00-00-00Z").unwrap();
        assert_eq!(count().await, 1, "a pruned run");
    }

    #[test]
    fn a_directory_without_history_or_runs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let message = tables(dir.path()).err().unwrap().to_string();
        assert!(message.contains("neither history/ nor runs/"), "{message}");
        let message = tables(&dir.path().join("nope")).err().unwrap().to_string();
        assert!(message.contains("no such directory"), "{message}");
    }
}
