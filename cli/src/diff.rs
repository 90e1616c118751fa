//! `kq diff`: what changed between two snapshots, or between a snapshot
//! and the live clusters (`--to now`), per table and object; and with
//! `--manifests`, the drift between files and the live clusters (the
//! session's `kq_drift`). Both go through the one comparison engine,
//! `kq_engine::diff`.

use std::collections::HashSet;

use kq_engine::diff::{Change, DiffOptions, DiffSide, Mode, diff_table};
use kq_engine::snapshot::{Location, Selection, SnapshotSchema};
use kq_providers::failures::{FailureLog, Severity};
use kq_providers::kubernetes::DeclaredKind;
use kq_providers::kubernetes::manifests::ManifestSource;

use crate::Failure;
use crate::args::{DiffArgs, Output, Sources, parse_time};
use kq_engine::drift::{Drift, DriftTable, drift_batch};

use crate::exec::{print_batch, print_options, report_failures, text_batch};
use crate::print::print_failure;
use crate::session;

/// The newer side of a comparison.
enum To {
    Latest,
    At(chrono::DateTime<chrono::Utc>),
    Live,
}

pub async fn run(sources: &Sources, output: &Output, args: &DiffArgs) -> Result<u8, Failure> {
    if sources.reads_manifests() {
        return drift(sources, output, args).await;
    }
    if args.extra {
        return Err(Failure::usage(
            "--extra lists live objects no manifest declares, so it needs --manifests PATH or --kustomize DIR",
        ));
    }
    let tables: Vec<String> = args
        .tables
        .iter()
        .flat_map(|t| t.split(','))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let Some(url) = &sources.snapshots else {
        return Err(Failure::usage(
            "kq diff needs --snapshots DIR, e.g. kq diff --snapshots ./snapshots --from 2026-12-01 --to now",
        ));
    };
    let Some(from) = args.from else {
        return Err(Failure::usage(
            "kq diff needs --from TIME (the older state), e.g. --from 2026-12-01",
        ));
    };
    if sources.at.is_some() || sources.history {
        return Err(Failure::usage(
            "kq diff takes --from and --to, not --at or --history",
        ));
    }
    let to = match args.to.as_deref() {
        None => To::Latest,
        Some("now") => To::Live,
        Some(text) => To::At(parse_time(text).map_err(|e| Failure::usage(format!("--to: {e}")))?),
    };
    let location =
        |url: &str| Location::parse(url, false).map_err(|e| Failure::usage(e.to_string()));
    let failures = FailureLog::new();
    let older = SnapshotSchema::open(location(url)?, Selection::At(from), failures.clone())
        .await
        .map_err(|e| Failure::usage(e.to_string()))?;
    let newer = match to {
        To::Latest => Some(Selection::Latest),
        To::At(at) => Some(Selection::At(at)),
        To::Live => None,
    };
    let newer = match newer {
        Some(selection) => Some(
            SnapshotSchema::open(location(url)?, selection, failures.clone())
                .await
                .map_err(|e| Failure::usage(e.to_string()))?,
        ),
        None => None,
    };
    let live = match newer {
        Some(_) => None,
        None => {
            let live_sources = Sources {
                snapshots: None,
                ..sources.clone()
            };
            Some(session::build(&live_sources, false).await?)
        }
    };
    let tables: Vec<String> = if tables.is_empty() {
        older.snapshot_table_names()
    } else {
        tables
    };
    let mut changes: Vec<Change> = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();
    for table in &tables {
        let Some(old) = older.snapshot_table(table) else {
            return Err(Failure::usage(format!(
                "table '{table}' is not in the snapshot at --from; kq --snapshots {url} tables lists what is"
            )));
        };
        let from_side = DiffSide {
            clusters: old.clusters(),
            provider: old,
            filter: None,
        };
        let (to_side, live_mark) = match (&newer, &live) {
            (Some(newer), _) => {
                let Some(new) = newer.snapshot_table(table) else {
                    return Err(Failure::usage(format!(
                        "table '{table}' is not in the snapshot at --to"
                    )));
                };
                (
                    DiffSide {
                        clusters: new.clusters(),
                        provider: new,
                        filter: None,
                    },
                    None,
                )
            }
            (None, Some(session)) => {
                let Some(provider) = session.engine.table(table).await else {
                    return Err(Failure::usage(format!(
                        "table '{table}' is not a table of the live clusters"
                    )));
                };
                let clusters: HashSet<String> = session.clusters.iter().cloned().collect();
                (
                    DiffSide {
                        provider,
                        clusters,
                        filter: None,
                    },
                    Some(session.engine.failures().mark()),
                )
            }
            (None, None) => unreachable!("one side is always built"),
        };
        let mut found = diff_table(table, from_side, to_side, &DiffOptions::exact())
            .await
            .map_err(|e| Failure::usage(e.to_string()))?;
        // A live cluster that failed answered no rows: that is no answer,
        // not every object removed.
        if let (Some(mark), Some(session)) = (live_mark, &live) {
            let failed: HashSet<String> = session
                .engine
                .failures()
                .since(mark)
                .into_iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| {
                    print_failure(&f);
                    f.source
                })
                .collect();
            found.changes.retain(|c| !failed.contains(&c.cluster));
            found.skipped_clusters.extend(failed);
        }
        changes.extend(found.changes);
        skipped.extend(
            found
                .skipped_clusters
                .into_iter()
                .map(|c| (table.clone(), c)),
        );
    }
    for failure in failures.all() {
        print_failure(&failure);
    }
    for (table, cluster) in &skipped {
        eprintln!(
            "kq: warning cluster '{cluster}' ({table}): read in only one of the two states; not compared"
        );
    }
    let rows = changes
        .iter()
        .map(|c| {
            vec![
                c.table.clone(),
                c.cluster.clone(),
                c.namespace.clone(),
                c.name.clone(),
                c.uid.clone(),
                c.change.to_string(),
                c.columns.join(","),
            ]
        })
        .collect();
    let batch = text_batch(
        &[
            "table",
            "cluster",
            "namespace",
            "name",
            "uid",
            "change",
            "columns",
        ],
        rows,
    );
    print_batch(batch, &print_options(output))?;
    Ok(u8::from(!changes.is_empty()))
}

/// `kq diff --manifests`: the files against the live clusters, one line
/// per missing object, changed field and (with `--extra`) extra object.
async fn drift(sources: &Sources, output: &Output, args: &DiffArgs) -> Result<u8, Failure> {
    if args.from.is_some() || args.to.is_some() || sources.snapshots.is_some() {
        return Err(Failure::usage(
            "kq diff --manifests compares the files with the live clusters; --from, --to and --snapshots compare snapshots, so use one or the other",
        ));
    }
    let names_clusters = sources.context.is_some() || sources.all_contexts || sources.demo;
    if manifest_set_names(sources)?.len() > 1 && !names_clusters {
        return declared(sources, output, args).await;
    }
    let sources = Sources {
        needs_clusters: true,
        ..sources.clone()
    };
    let session = session::build(&sources, false).await?;
    let engine = &session.engine;
    if engine.kube().live_cluster_names().is_empty() {
        return Err(Failure::usage(
            "kq diff --manifests needs a cluster to compare the files with: the current context, --context CTX or -A",
        ));
    }
    let provider = engine
        .table(kq_engine::drift::DRIFT_TABLE)
        .await
        .ok_or_else(|| Failure::usage("the manifests declare no object to compare"))?;
    let any: &dyn std::any::Any = provider.as_ref();
    let Some(table) = any.downcast_ref::<DriftTable>() else {
        return Err(Failure::usage(format!(
            "'{}' is a table of this session, not kq's drift table; drop the CREATE that replaced it",
            kq_engine::drift::DRIFT_TABLE
        )));
    };
    let wanted = kind_filter(args);
    let known = table.kind_names();
    if let Some(unknown) = wanted.iter().find(|w| !known.iter().any(|k| k.matches(w))) {
        let names: Vec<String> = known.iter().map(|k| k.kind.clone()).collect();
        return Err(Failure::usage(format!(
            "the manifests declare no kind '{unknown}'; they declare {}",
            names.join(", ")
        )));
    }
    if !sources.namespace.is_empty() {
        let outside: Vec<String> = table
            .declared_namespaces()
            .into_iter()
            .filter(|n| !sources.namespace.contains(n))
            .collect();
        if !outside.is_empty() {
            eprintln!(
                "kq: warning: objects in namespaces {} are outside -n {} and were not compared",
                outside.join(", "),
                sources.namespace.join(",")
            );
        }
    }
    let mark = engine.failures().mark();
    let drifts: Vec<Drift> = table
        .compute()
        .await
        .map_err(|e| Failure::usage(kq_engine::clean_message(&e)))?
        .into_iter()
        .filter(|d| args.extra || d.change != "extra")
        .filter(|d| {
            wanted.is_empty()
                || known
                    .iter()
                    .any(|k| k.kind == d.kind && wanted.iter().any(|w| k.matches(w)))
        })
        .collect();
    let code = report_failures(engine, mark, output.strict)?;
    let batch = drift_batch(&drifts).map_err(|e| Failure::usage(e.to_string()))?;
    // The set's name only when there is more than one to tell apart.
    let sets: std::collections::HashSet<&str> =
        drifts.iter().map(|d| d.manifests.as_str()).collect();
    let shown: Vec<usize> = [
        "cluster",
        if sets.len() > 1 { "manifests" } else { "" },
        "namespace",
        "name",
        "kind",
        "change",
        "field",
        "desired",
        "live",
        "source_path",
        "source_line",
    ]
    .iter()
    .filter_map(|c| batch.schema().index_of(c).ok())
    .collect();
    let batch = batch
        .project(&shown)
        .map_err(|e| Failure::usage(e.to_string()))?;
    print_batch(batch, &print_options(output))?;
    Ok(code.max(u8::from(!drifts.is_empty())))
}

/// The distinct `NAME`s of `--manifests`/`--kustomize`, in order.
fn manifest_set_names(sources: &Sources) -> Result<Vec<String>, Failure> {
    let specs = sources
        .manifests
        .iter()
        .map(|spec| (spec, false))
        .chain(sources.kustomize.iter().map(|spec| (spec, true)));
    let mut names: Vec<String> = Vec::new();
    for (spec, kustomize) in specs {
        let source =
            ManifestSource::parse(spec, kustomize).map_err(|e| Failure::usage(e.to_string()))?;
        if !names.contains(&source.name) {
            names.push(source.name);
        }
    }
    Ok(names)
}

/// `kq diff --manifests before=OLD --manifests after=NEW`: what a change
/// to the files changes in the objects, field by field, both ways; no
/// cluster is read.
async fn declared(sources: &Sources, output: &Output, args: &DiffArgs) -> Result<u8, Failure> {
    if args.extra {
        return Err(Failure::usage(
            "--extra lists live objects no file declares; comparing two manifest sets reads no cluster, so drop it or add --context CTX",
        ));
    }
    let names = manifest_set_names(sources)?;
    let [before, after] = names.as_slice() else {
        return Err(Failure::usage(format!(
            "comparing files with files takes two manifest sets, e.g. --manifests before=./main --manifests after=./branch; {} were given ({})",
            names.len(),
            names.join(", ")
        )));
    };
    let session = session::build(sources, false).await?;
    let kinds = session.engine.kube().declared_kinds();
    let wanted = kind_filter(args);
    let mut drifts: Vec<Drift> = Vec::new();
    let mut compared: HashSet<(String, String)> = HashSet::new();
    for kind in &kinds {
        let key = (kind.resource.group.clone(), kind.resource.kind.clone());
        if !compared.insert(key) || !kind_wanted(&wanted, kind) {
            continue;
        }
        let side = |set: &str| DiffSide {
            provider: kind.table.clone(),
            clusters: [set.to_string()].into_iter().collect(),
            filter: None,
        };
        let found = diff_table(
            &kind.resource.plural,
            side(before),
            side(after),
            &DiffOptions {
                mode: Mode::Declared,
                pairs: vec![(before.clone(), after.clone())],
            },
        )
        .await
        .map_err(|e| Failure::usage(e.to_string()))?;
        drifts.extend(
            found
                .changes
                .into_iter()
                .flat_map(|change| Drift::from_change(kind, change)),
        );
    }
    drifts.sort();
    let batch = drift_batch(&drifts).map_err(|e| Failure::usage(e.to_string()))?;
    let shown = [
        ("namespace", "namespace"),
        ("name", "name"),
        ("kind", "kind"),
        ("change", "change"),
        ("field", "field"),
        ("desired", before.as_str()),
        ("live", after.as_str()),
        ("source_path", "source_path"),
        ("source_line", "source_line"),
    ];
    let schema = batch.schema();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (column, title) in shown {
        let index = schema
            .index_of(column)
            .map_err(|e| Failure::usage(e.to_string()))?;
        fields.push(schema.field(index).clone().with_name(title));
        columns.push(batch.column(index).clone());
    }
    let batch = arrow::array::RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )
    .map_err(|e| Failure::usage(e.to_string()))?;
    print_batch(batch, &print_options(output))?;
    Ok(u8::from(!drifts.is_empty()))
}

/// Kinds named on the command line, lower case.
fn kind_filter(args: &DiffArgs) -> Vec<String> {
    args.tables
        .iter()
        .flat_map(|t| t.split(','))
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn kind_wanted(wanted: &[String], kind: &DeclaredKind) -> bool {
    let resource = &kind.resource;
    let qualified = format!("{}.{}", resource.plural, resource.group);
    wanted.is_empty()
        || wanted
            .iter()
            .any(|w| *w == resource.kind.to_lowercase() || *w == resource.plural || *w == qualified)
}
