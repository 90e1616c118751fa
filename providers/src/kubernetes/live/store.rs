//! The live cache's storage: objects as compact JSON in slots, slots in
//! segments that cache the Arrow columns each table asked for.
//!
//! A change clears only its own segment's columns, so after one pod
//! changes a query re-decodes a few hundred objects, not the fleet.
//! managedFields (server-side apply bookkeeping, often the largest part of
//! an object and never a column) is dropped on the way in.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use sonic_rs::{JsonValueMutTrait as _, JsonValueTrait as _, Value};

use crate::kubernetes::resource::ResourceRef;
use crate::kubernetes::tables::{DecodeError, TableDef};

/// Objects per segment: the unit of re-decoding after a change.
const SEGMENT_OBJECTS: usize = 512;

/// One stored object: identity, version and its JSON without managedFields.
pub(super) struct Entry {
    pub(super) uid: Box<str>,
    pub(super) resource_version: Box<str>,
    namespace: Box<str>,
    json: Box<[u8]>,
}

impl Entry {
    pub(super) fn from_value(mut object: Value) -> Option<Entry> {
        let metadata = object.get_mut("metadata")?;
        // managedFields is bookkeeping for server-side apply: often the
        // largest part of an object and never a column.
        if let Some(meta) = metadata.as_object_mut() {
            meta.remove(&"managedFields");
        }
        let text = |key: &str| -> Box<str> {
            metadata
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .into()
        };
        let uid = text("uid");
        if uid.is_empty() {
            return None;
        }
        let resource_version = text("resourceVersion");
        let namespace = text("namespace");
        let json = sonic_rs::to_vec(&object).ok()?.into_boxed_slice();
        Some(Entry {
            uid,
            resource_version,
            namespace,
            json,
        })
    }
}

/// Objects in slots; slots in segments that cache decoded columns.
#[derive(Default)]
pub(super) struct Store {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    index: HashMap<Box<str>, usize>,
    segments: Vec<Segment>,
    json_bytes: usize,
}

#[derive(Default)]
struct Segment {
    /// Decoded columns per table; cleared when any object of the segment changes.
    tables: HashMap<String, SegmentColumns>,
}

struct SegmentColumns {
    rows: Option<usize>,
    columns: Vec<Option<ArrayRef>>,
}

impl Store {
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn memory_bytes(&self) -> usize {
        let columns: usize = self
            .segments
            .iter()
            .flat_map(|s| s.tables.values())
            .flat_map(|t| t.columns.iter().flatten())
            .map(|a| a.get_array_memory_size())
            .sum();
        self.json_bytes + columns + self.slots.len() * std::mem::size_of::<Option<Entry>>()
    }

    fn touch(&mut self, slot: usize) {
        if let Some(segment) = self.segments.get_mut(slot / SEGMENT_OBJECTS) {
            segment.tables.clear();
        }
    }

    /// Inserts or replaces; false when the same version is already stored.
    pub(super) fn upsert(&mut self, entry: Entry) -> bool {
        if let Some(&slot) = self.index.get(&entry.uid) {
            if let Some(old) = &self.slots[slot] {
                // A resourceVersion names one state of an object; the bytes
                // may differ (watch events carry kind/apiVersion, list
                // items do not, and key order is not stable).
                let same = if entry.resource_version.is_empty() {
                    old.json == entry.json
                } else {
                    old.resource_version == entry.resource_version
                };
                if same {
                    return false;
                }
                self.json_bytes -= old.json.len();
            }
            self.json_bytes += entry.json.len();
            self.slots[slot] = Some(entry);
            self.touch(slot);
            return true;
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                let slot = self.slots.len() - 1;
                if slot / SEGMENT_OBJECTS >= self.segments.len() {
                    self.segments.push(Segment::default());
                }
                slot
            }
        };
        self.json_bytes += entry.json.len();
        self.index.insert(entry.uid.clone(), slot);
        self.slots[slot] = Some(entry);
        self.touch(slot);
        true
    }

    pub(super) fn remove(&mut self, uid: &str) -> bool {
        let Some(slot) = self.index.remove(uid) else {
            return false;
        };
        if let Some(old) = self.slots[slot].take() {
            self.json_bytes -= old.json.len();
        }
        self.free.push(slot);
        self.touch(slot);
        true
    }

    /// Makes `entries` the contents of one scope (a namespace, or all);
    /// true when anything changed.
    pub(super) fn replace_scope(&mut self, namespace: Option<&str>, entries: Vec<Entry>) -> bool {
        let listed: HashSet<Box<str>> = entries.iter().map(|e| e.uid.clone()).collect();
        let vanished: Vec<Box<str>> = self
            .slots
            .iter()
            .flatten()
            .filter(|e| namespace.is_none_or(|n| *e.namespace == *n))
            .filter(|e| !listed.contains(&e.uid))
            .map(|e| e.uid.clone())
            .collect();
        let mut changed = false;
        for uid in vanished {
            changed |= self.remove(&uid);
        }
        for entry in entries {
            changed |= self.upsert(entry);
        }
        changed
    }

    /// The table's rows, one batch per non-empty segment, decoding only
    /// the projected columns a segment does not have yet.
    pub(super) fn batches(
        &mut self,
        def: &TableDef,
        cluster: &str,
        resource: &ResourceRef,
        projection: Option<&[usize]>,
    ) -> Result<Vec<RecordBatch>, DecodeError> {
        let schema = def.schema();
        let all: Vec<usize>;
        let projection = match projection {
            Some(p) => p,
            None => {
                all = (0..schema.fields().len()).collect();
                &all
            }
        };
        let projected =
            Arc::new(
                schema
                    .project(projection)
                    .map_err(|source| DecodeError::Arrow {
                        table: def.name.clone(),
                        source,
                    })?,
            );
        let mut batches = Vec::new();
        for (index, segment) in self.segments.iter_mut().enumerate() {
            let start = index * SEGMENT_OBJECTS;
            let end = (start + SEGMENT_OBJECTS).min(self.slots.len());
            let objects = &self.slots[start..end];
            if objects.iter().all(Option::is_none) {
                continue;
            }
            let cached = segment
                .tables
                .entry(def.name.clone())
                .or_insert_with(|| SegmentColumns {
                    rows: None,
                    columns: vec![None; schema.fields().len()],
                });
            let missing: Vec<usize> = projection
                .iter()
                .copied()
                .filter(|&c| cached.columns.get(c).is_some_and(Option::is_none))
                .collect();
            if !missing.is_empty() || cached.rows.is_none() {
                let items: Vec<Value> = objects
                    .iter()
                    .flatten()
                    .filter_map(|e| sonic_rs::from_slice(&e.json).ok())
                    .collect();
                let batch = def.decode(cluster, resource, &items, Some(&missing))?;
                cached.rows = Some(batch.num_rows());
                for (position, &column) in missing.iter().enumerate() {
                    cached.columns[column] = Some(batch.column(position).clone());
                }
            }
            let rows = cached.rows.unwrap_or(0);
            if rows == 0 {
                continue;
            }
            let arrays: Vec<ArrayRef> = projection
                .iter()
                .filter_map(|&c| cached.columns.get(c).cloned().flatten())
                .collect();
            let batch = RecordBatch::try_new_with_options(
                projected.clone(),
                arrays,
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )
            .map_err(|source| DecodeError::Arrow {
                table: def.name.clone(),
                source,
            })?;
            batches.push(batch);
        }
        Ok(batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: &str, namespace: &str, version: &str) -> Entry {
        Entry::from_value(
            sonic_rs::from_str(&format!(
                r#"{{"metadata":{{"uid":"{uid}","namespace":"{namespace}","name":"{uid}","resourceVersion":"{version}","managedFields":[{{"manager":"kubectl"}}]}}}}"#
            ))
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn entries_drop_managed_fields() {
        let e = entry("u1", "a", "1");
        let text = std::str::from_utf8(&e.json).unwrap();
        assert!(!text.contains("managedFields"), "{text}");
        assert_eq!(&*e.namespace, "a");
    }

    #[test]
    fn relisting_a_scope_changes_only_what_differs() {
        let mut store = Store::default();
        assert!(store.replace_scope(None, vec![entry("u1", "a", "1"), entry("u2", "b", "1")]));
        assert!(!store.replace_scope(None, vec![entry("u1", "a", "1"), entry("u2", "b", "1")]));
        // A namespace relist never removes another namespace's objects.
        assert!(store.replace_scope(Some("a"), vec![entry("u3", "a", "2")]));
        let mut uids: Vec<&str> = store.index.keys().map(|k| &**k).collect();
        uids.sort_unstable();
        assert_eq!(uids, ["u2", "u3"]);
        assert!(store.remove("u2"));
        assert!(!store.remove("u2"));
        assert_eq!(store.len(), 1);
        // The freed slot is reused.
        assert!(store.upsert(entry("u4", "b", "3")));
        assert_eq!(store.slots.len(), 2);
    }

    fn pod(uid: &str, version: &str, images: &[&str]) -> Entry {
        let containers: Vec<String> = images
            .iter()
            .enumerate()
            .map(|(i, image)| format!(r#"{{"name":"c{i}","image":"{image}"}}"#))
            .collect();
        Entry::from_value(
            sonic_rs::from_str(&format!(
                r#"{{"metadata":{{"uid":"{uid}","namespace":"ns","name":"{uid}","resourceVersion":"{version}"}},"spec":{{"containers":[{}]}}}}"#,
                containers.join(",")
            ))
            .unwrap(),
        )
        .unwrap()
    }

    fn images(store: &mut Store, def: &TableDef) -> Vec<String> {
        let column = def.schema().index_of("image").unwrap();
        let pods = crate::kubernetes::resource::builtin::pods();
        let mut out: Vec<String> = store
            .batches(def, "c", &pods, Some(&[column]))
            .unwrap()
            .iter()
            .flat_map(|b| {
                let array = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .unwrap();
                (0..arrow::array::Array::len(array))
                    .map(|i| array.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn cached_columns_follow_changes_in_child_tables() {
        let defs = crate::kubernetes::tables::builtin_tables(Default::default());
        let containers = defs.iter().find(|d| d.name == "containers").unwrap();
        let mut store = Store::default();
        store.upsert(pod("p1", "1", &["nginx", "redis"]));
        store.upsert(pod("p2", "1", &["mysql"]));
        assert_eq!(images(&mut store, containers), ["mysql", "nginx", "redis"]);
        // Cached now; a change to p1 must not serve its old containers.
        store.upsert(pod("p1", "2", &["nginx:2"]));
        assert_eq!(images(&mut store, containers), ["mysql", "nginx:2"]);
        store.remove("p2");
        assert_eq!(images(&mut store, containers), ["nginx:2"]);
        // An empty projection (count(*)) still counts rows per table.
        let pods = crate::kubernetes::resource::builtin::pods();
        let rows: usize = store
            .batches(containers, "c", &pods, Some(&[]))
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, 1);
    }
}
