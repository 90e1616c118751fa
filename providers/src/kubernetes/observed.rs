//! What each (cluster, table) read reflected: the list's resourceVersion
//! and when it completed. Snapshots record it beside the rows, so a row
//! says which state of the server it came from and a later watch could
//! resume from there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// One completed read of a table's resource on one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The collection's resourceVersion (empty when the server sent none).
    pub resource_version: String,
    pub observed_at: DateTime<Utc>,
}

/// Shared by every scan of a session; the newest read wins.
#[derive(Clone, Default, Debug)]
pub struct ObservedVersions {
    inner: Arc<Mutex<HashMap<(String, String), Observation>>>,
}

impl ObservedVersions {
    pub fn record(&self, cluster: &str, table: &str, resource_version: Option<&str>) {
        let observation = Observation {
            resource_version: resource_version.unwrap_or_default().to_string(),
            observed_at: Utc::now(),
        };
        if let Ok(mut map) = self.inner.lock() {
            map.insert((cluster.to_string(), table.to_string()), observation);
        }
    }

    /// The latest read of `table` on `cluster`, if one completed.
    pub fn get(&self, cluster: &str, table: &str) -> Option<Observation> {
        let map = self.inner.lock().ok()?;
        map.get(&(cluster.to_string(), table.to_string())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_read_wins_per_cluster_and_table() {
        let observed = ObservedVersions::default();
        observed.record("a", "pods", Some("10"));
        observed.record("a", "pods", Some("12"));
        observed.record("b", "pods", None);
        assert_eq!(observed.get("a", "pods").unwrap().resource_version, "12");
        assert_eq!(observed.get("b", "pods").unwrap().resource_version, "");
        assert!(observed.get("a", "services").is_none());
    }
}
