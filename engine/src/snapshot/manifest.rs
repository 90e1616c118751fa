//! The manifest: one small JSON document per snapshot, written last. It is
//! the only way a reader finds a snapshot's files, so files without a
//! manifest (an interrupted run) are invisible, and a cluster that failed
//! is recorded as failed, never as zero rows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SnapshotError;

/// The manifest format this kq writes and the newest it reads.
pub const FORMAT: u32 = 1;

/// Where manifests live, relative to the location's root.
pub const MANIFEST_DIR: &str = "_kq/manifests";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub kq_version: String,
    /// Sortable and unique: `20261205T211000.123Z-<8 hex>`.
    pub id: String,
    /// When the snapshot started; `--at` compares against it.
    pub taken_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub tables: Vec<String>,
    pub clusters: Vec<ClusterEntry>,
    pub files: Vec<FileEntry>,
    /// Everything that went wrong or was partial, as `kq_errors` showed it.
    pub failures: Vec<FailureEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClusterEntry {
    pub name: String,
    /// `ok`, `partial` (some tables failed) or `failed` (every table failed).
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub table: String,
    pub cluster: String,
    /// Relative to the location's root, `/`-separated.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub observed_at: DateTime<Utc>,
    pub resource_version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FailureEntry {
    pub cluster: String,
    pub table: String,
    pub severity: String,
    pub kind: String,
    pub message: String,
}

impl Manifest {
    /// The manifest's own path, relative to the root.
    pub fn relative_path(&self) -> String {
        format!("{MANIFEST_DIR}/{}.json", self.id)
    }

    /// Decodes a manifest; `what` names it in errors.
    pub fn decode(bytes: &[u8], what: &str) -> Result<Self, SnapshotError> {
        #[derive(Deserialize)]
        struct Version {
            format: u32,
        }
        let bad = |why: String| SnapshotError::BadManifest {
            what: what.to_string(),
            why,
        };
        let version: Version = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if version.format > FORMAT {
            return Err(SnapshotError::NewerFormat {
                what: what.to_string(),
                found: version.format,
                supported: FORMAT,
            });
        }
        serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))
    }

    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings, numbers and timestamps always serializes.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Whether `cluster`'s rows of `table` are in this snapshot.
    pub fn file_for(&self, table: &str, cluster: &str) -> Option<&FileEntry> {
        self.files
            .iter()
            .find(|f| f.table == table && f.cluster == cluster)
    }
}

/// A new snapshot id: the start time to the millisecond (ids sort in time
/// order) and random bits so two writers never collide.
pub fn new_id(taken_at: DateTime<Utc>) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        taken_at
            .timestamp_nanos_opt()
            .map(|n| n as u128)
            .unwrap_or_default(),
    );
    hasher.write_u32(std::process::id());
    format!(
        "{}-{:08x}",
        taken_at.format("%Y%m%dT%H%M%S%.3fZ"),
        hasher.finish() as u32
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let at = DateTime::parse_from_rfc3339("2026-12-05T21:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Manifest {
            format: FORMAT,
            kq_version: "0.1.0".into(),
            id: new_id(at),
            taken_at: at,
            completed_at: at,
            tables: vec!["pods".into()],
            clusters: vec![ClusterEntry {
                name: "a".into(),
                status: "ok".into(),
            }],
            files: vec![],
            failures: vec![],
        }
    }

    #[test]
    fn round_trips_and_ids_sort_by_time() {
        let manifest = sample();
        assert!(manifest.id.starts_with("20261205T211000.000Z-"));
        let decoded = Manifest::decode(&manifest.encode(), "m").unwrap();
        assert_eq!(decoded, manifest);
    }

    #[test]
    fn newer_formats_and_foreign_json_are_refused() {
        let mut manifest = sample();
        manifest.format = FORMAT + 1;
        let error = Manifest::decode(&manifest.encode(), "m.json").unwrap_err();
        assert!(error.to_string().contains("newer kq"), "{error}");
        let error = Manifest::decode(b"{\"hello\": 1}", "m.json").unwrap_err();
        assert!(
            error.to_string().contains("not a kq snapshot manifest"),
            "{error}"
        );
    }
}
