//! The per-cluster object store: a global monotonic resourceVersion,
//! pre-serialized objects, copy-on-write collections (cheap consistent
//! snapshots for paginated lists) and a bounded ring buffer of watch events.
//!
//! Objects are kept as their final JSON bytes plus the few extracted values
//! selectors need, so a list is a concatenation and a watch event a prefix
//! and a suffix around the same bytes: nothing is re-serialized per request.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::defaults;
use crate::registry::{Registry, ResKey, ResourceType, crd_resource_types};
use crate::selector::{extract_fields, extract_labels};
use crate::status::ApiError;

/// (namespace or "", name): the etcd key order the real server lists in.
pub(crate) type ObjKey = (String, String);
pub(crate) type Collection = BTreeMap<ObjKey, Arc<Stored>>;

/// How many watch events each cluster keeps before compacting the oldest.
const EVENT_CAPACITY: usize = 50_000;
/// How many list snapshots stay available to continue tokens.
const SNAPSHOT_CAPACITY: usize = 64;

/// One stored object: its serialized form and what selectors read.
#[derive(Debug)]
pub(crate) struct Stored {
    pub rv: u64,
    pub json: Bytes,
    pub namespace: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub fields: Vec<(&'static str, String)>,
}

impl Stored {
    pub fn value(&self) -> Value {
        // The bytes were produced by serde_json from a Value, so this cannot fail in practice.
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub res: ResKey,
    pub kind: EventType,
    pub obj: Arc<Stored>,
    pub prev: Option<Arc<Stored>>,
}

/// What a watcher finds when it polls the event buffer.
pub(crate) enum WatchPoll {
    Events(Vec<Arc<Event>>, u64),
    Expired { requested: u64, oldest: u64 },
}

struct Inner {
    rv: u64,
    registry: Registry,
    collections: HashMap<ResKey, Arc<Collection>>,
    events: VecDeque<Arc<Event>>,
    compacted_rv: u64,
    epoch: u64,
    rng: ChaCha8Rng,
}

#[derive(Default)]
struct SnapshotCache {
    order: VecDeque<(ResKey, u64)>,
    map: HashMap<(ResKey, u64), Arc<Collection>>,
}

/// The state of one simulated cluster.
pub(crate) struct Store {
    inner: RwLock<Inner>,
    notify: tokio::sync::watch::Sender<u64>,
    snapshots: Mutex<SnapshotCache>,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn meta_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let o = obj.as_object_mut()?;
    let m = o.entry("metadata").or_insert_with(|| json!({}));
    if !m.is_object() {
        *m = json!({});
    }
    m.as_object_mut()
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn is_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn validate_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let invalid = |detail: String| {
        Err(ApiError::invalid(
            &rt.kind,
            &rt.group,
            name,
            "metadata.name",
            &detail,
        ))
    };
    if rt.group == "rbac.authorization.k8s.io" {
        if name.contains('/') || name.contains('%') || name == "." || name == ".." {
            return invalid(format!(
                "Invalid value: \"{name}\": may not contain '/' or '%'"
            ));
        }
        return Ok(());
    }
    if !is_subdomain(name) {
        return invalid(format!(
            "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ));
    }
    Ok(())
}

/// Copies the fields a client may not change (or omit) from the stored object.
fn carry_server_fields(new: &mut Value, old: &Value) {
    let old_meta = old.get("metadata").cloned().unwrap_or(json!({}));
    if let Some(m) = meta_mut(new) {
        for f in ["uid", "creationTimestamp", "generation"] {
            if let Some(v) = old_meta.get(f) {
                m.insert(f.into(), v.clone());
            }
        }
    }
}

fn strip_rv(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    v
}

impl Store {
    pub fn new(seed: u64) -> Self {
        let (notify, _) = tokio::sync::watch::channel(0);
        Store {
            inner: RwLock::new(Inner {
                rv: 0,
                registry: Registry::builtins(),
                collections: HashMap::new(),
                events: VecDeque::new(),
                compacted_rv: 0,
                epoch: 0,
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6b71_7369_6d75_6964),
            }),
            notify,
            snapshots: Mutex::new(SnapshotCache::default()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A poisoned lock only means another request panicked mid-read; the data is still consistent
        // because every mutation completes before any fallible step.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn with_registry<R>(&self, f: impl FnOnce(&Registry) -> R) -> R {
        f(&self.read().registry)
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// (current resourceVersion, watch epoch)
    pub fn head(&self) -> (u64, u64) {
        let inner = self.read();
        (inner.rv, inner.epoch)
    }

    /// Bulk-loads objects without producing watch events.
    #[cfg(test)]
    pub fn load(&self, objects: impl IntoIterator<Item = Value>) -> Result<(), String> {
        let mut loader = self.loader();
        for obj in objects {
            loader.add(obj)?;
        }
        loader.finish();
        Ok(())
    }

    /// Starts a bulk load: objects are added one at a time and only their serialized form
    /// is kept, so a streaming source (the generator) never has more than one Value alive.
    /// The store is locked until [`Loader::finish`] (or the loader is dropped).
    pub fn loader(&self) -> Loader<'_> {
        Loader {
            store: self,
            inner: self.write(),
            scratch: Vec::new(),
        }
    }

    /// A consistent view of one collection and the resourceVersion it was taken at.
    pub fn snapshot(&self, key: &ResKey) -> (u64, Arc<Collection>) {
        let inner = self.read();
        let coll = inner.collections.get(key).cloned().unwrap_or_default();
        (inner.rv, coll)
    }

    /// Like [`Store::snapshot`], plus the watch epoch the snapshot belongs to.
    pub fn watch_snapshot(&self, key: &ResKey) -> (u64, u64, Arc<Collection>) {
        let inner = self.read();
        let coll = inner.collections.get(key).cloned().unwrap_or_default();
        (inner.rv, inner.epoch, coll)
    }

    pub fn remember_snapshot(&self, key: &ResKey, rv: u64, coll: Arc<Collection>) {
        let mut cache = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        let id = (key.clone(), rv);
        if cache.map.contains_key(&id) {
            return;
        }
        cache.map.insert(id.clone(), coll);
        cache.order.push_back(id);
        while cache.order.len() > SNAPSHOT_CAPACITY {
            if let Some(old) = cache.order.pop_front() {
                cache.map.remove(&old);
            }
        }
    }

    pub fn recall_snapshot(&self, key: &ResKey, rv: u64) -> Option<Arc<Collection>> {
        let cache = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        cache.map.get(&(key.clone(), rv)).cloned()
    }

    pub fn get(&self, key: &ResKey, ns: &str, name: &str) -> Option<Arc<Stored>> {
        let inner = self.read();
        inner
            .collections
            .get(key)
            .and_then(|c| c.get(&(ns.to_string(), name.to_string())))
            .cloned()
    }

    /// Events of one collection after `since`, or the reason the watcher fell behind.
    pub fn poll_events(&self, key: &ResKey, since: u64, epoch: u64) -> WatchPoll {
        let inner = self.read();
        if inner.epoch != epoch || since < inner.compacted_rv {
            return WatchPoll::Expired {
                requested: since,
                oldest: inner.compacted_rv,
            };
        }
        let start = inner.events.partition_point(|e| e.rv <= since);
        let events = inner
            .events
            .range(start..)
            .filter(|e| &e.res == key)
            .cloned()
            .collect();
        WatchPoll::Events(events, inner.rv)
    }

    /// Whether a watch may start from `rv` (otherwise the real server answers 410).
    pub fn check_watch_start(&self, rv: u64) -> Result<u64, ApiError> {
        let inner = self.read();
        if rv < inner.compacted_rv {
            Err(ApiError::too_old(rv, inner.compacted_rv))
        } else {
            Ok(inner.epoch)
        }
    }

    /// Forgets all history: open watches end with 410 and old versions and continue tokens expire.
    pub fn force_expiry(&self) {
        let mut inner = self.write();
        inner.epoch += 1;
        inner.events.clear();
        inner.compacted_rv = inner.rv;
        let rv = inner.rv;
        drop(inner);
        {
            let mut cache = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
            cache.map.clear();
            cache.order.clear();
        }
        self.notify.send_replace(rv);
    }

    fn notify(&self) {
        let rv = self.read().rv;
        self.notify.send_replace(rv);
    }

    /// POST: creates an object in `ns` (None for cluster-scoped).
    pub fn create(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        normalize_type_meta(rt, &mut obj)?;
        let mut inner = self.write();
        let ns = resolve_namespace(rt, ns, &obj)?;
        if let Some(m) = meta_mut(&mut obj) {
            if rt.namespaced {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
        }
        let name = match meta_str(&obj, "name").filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => match meta_str(&obj, "generateName").filter(|n| !n.is_empty()) {
                Some(prefix) => {
                    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
                    let suffix: String = (0..5)
                        .map(|_| ALPHABET[inner.rng.random_range(0..ALPHABET.len())] as char)
                        .collect();
                    let n = format!("{prefix}{suffix}");
                    if let Some(m) = meta_mut(&mut obj) {
                        m.insert("name".into(), json!(n));
                    }
                    n
                }
                None => {
                    return Err(ApiError::invalid(
                        &rt.kind,
                        &rt.group,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ));
                }
            },
        };
        validate_name(rt, &name)?;
        if rt.namespaced && !namespace_exists(&inner, &ns) {
            return Err(ApiError::not_found("", "namespaces", &ns));
        }
        let key = rt.key();
        let okey = (ns.clone(), name.clone());
        if inner
            .collections
            .get(&key)
            .is_some_and(|c| c.contains_key(&okey))
        {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        if let Some(m) = meta_mut(&mut obj) {
            m.remove("resourceVersion");
            m.remove("uid");
            m.remove("creationTimestamp");
        }
        if rt.plural == "pods" && rt.group.is_empty() {
            admit_pod(&mut obj);
        }
        defaults::apply(&mut obj);
        fill_server_fields(&mut inner, &mut obj);
        let uid = meta_str(&obj, "uid").unwrap_or_default().to_string();
        defaults::prepare_for_create(&mut obj, rt.crd.is_some(), &uid, &now_rfc3339());
        if rt.plural == "services" && rt.group.is_empty() {
            allocate_service(&mut inner, rt, &name, &mut obj, None)?;
        }
        self.check_crd(rt, &inner, &mut obj)?;
        if dry_run {
            return Ok(obj);
        }
        let out = commit(&mut inner, rt, okey, obj, EventType::Added, None);
        drop(inner);
        self.notify();
        Ok(out)
    }

    /// Validates a CRD object and registers (or re-registers) its kinds.
    fn check_crd(&self, rt: &ResourceType, inner: &Inner, obj: &mut Value) -> Result<(), ApiError> {
        if rt.group != "apiextensions.k8s.io" || rt.plural != "customresourcedefinitions" {
            return Ok(());
        }
        let name = meta_str(obj, "name").unwrap_or("").to_string();
        let defined = crd_resource_types(obj)
            .map_err(|e| ApiError::invalid(&rt.kind, &rt.group, &name, "spec", &e))?;
        let mut trial = inner.registry.clone();
        trial
            .register_crd(obj)
            .map_err(|e| ApiError::invalid(&rt.kind, &rt.group, &name, "spec.names", &e))?;
        drop(defined);
        set_crd_status(obj);
        Ok(())
    }

    /// PUT: replaces an existing object (optimistic concurrency on resourceVersion).
    pub fn update(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        normalize_type_meta(rt, &mut obj)?;
        let body_name = meta_str(&obj, "name").unwrap_or("");
        if body_name.is_empty() {
            if let Some(m) = meta_mut(&mut obj) {
                m.insert("name".into(), json!(name));
            }
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let mut inner = self.write();
        let ns = resolve_namespace(rt, ns, &obj)?;
        let okey = (ns.clone(), name.to_string());
        let prev = inner
            .collections
            .get(&rt.key())
            .and_then(|c| c.get(&okey))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        if let Some(rv) = meta_str(&obj, "resourceVersion").filter(|s| !s.is_empty())
            && rv != prev.rv.to_string()
        {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        self.replace_locked(&mut inner, rt, okey, prev, obj, dry_run)
    }

    /// PATCH: applies `apply` to the stored object and stores the result.
    pub fn patch(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        apply: impl FnOnce(Value) -> Result<Value, ApiError>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut inner = self.write();
        let ns = if rt.namespaced {
            ns.unwrap_or("default").to_string()
        } else {
            String::new()
        };
        let okey = (ns, name.to_string());
        let prev = inner
            .collections
            .get(&rt.key())
            .and_then(|c| c.get(&okey))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        let mut obj = apply(prev.value())?;
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the patch produced something other than an object",
            ));
        }
        if let Some(rv) = meta_str(&obj, "resourceVersion").filter(|s| !s.is_empty())
            && rv != prev.rv.to_string()
        {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        if meta_str(&obj, "name") != Some(name) {
            return Err(ApiError::invalid(
                &rt.kind,
                &rt.group,
                name,
                "metadata.name",
                "Invalid value: field is immutable",
            ));
        }
        normalize_type_meta(rt, &mut obj)?;
        self.replace_locked(&mut inner, rt, okey, prev, obj, dry_run)
    }

    fn replace_locked(
        &self,
        inner: &mut Inner,
        rt: &ResourceType,
        okey: ObjKey,
        prev: Arc<Stored>,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let old = prev.value();
        defaults::apply(&mut obj);
        carry_server_fields(&mut obj, &old);
        if let Some(m) = meta_mut(&mut obj) {
            if rt.namespaced {
                m.insert("namespace".into(), json!(okey.0));
            } else {
                m.remove("namespace");
            }
            m.remove("resourceVersion");
        }
        if rt.crd.is_some() || defaults::tracks_generation(&rt.group, &rt.kind) {
            // A Deployment's annotations count too: they are copied to its
            // ReplicaSets.
            let annotations = |v: &Value| v.pointer("/metadata/annotations").cloned();
            let deployment = rt.group == "apps" && rt.kind == "Deployment";
            if spec_changed(&obj, &old) || (deployment && annotations(&obj) != annotations(&old)) {
                let generation = old
                    .get("metadata")
                    .and_then(|m| m.get("generation"))
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                if let Some(m) = meta_mut(&mut obj) {
                    m.insert("generation".into(), json!(generation + 1));
                }
            }
        } else if let Some(m) = meta_mut(&mut obj) {
            m.remove("generation");
        }
        if rt.group == "apps" && rt.kind == "DaemonSet" {
            bump_template_generation(&mut obj, &old);
        }
        if rt.plural == "services" && rt.group.is_empty() {
            allocate_service(inner, rt, &okey.1, &mut obj, Some(&old))?;
        }
        if let Some(m) = meta_mut(&mut obj)
            && m.get("name").and_then(Value::as_str) != Some(okey.1.as_str())
        {
            m.insert("name".into(), json!(okey.1));
        }
        self.check_crd(rt, inner, &mut obj)?;
        if obj == strip_rv(&old) {
            // A no-op update keeps the resourceVersion and emits nothing, like the real server.
            return Ok(old);
        }
        if dry_run {
            return Ok(obj);
        }
        let out = commit(inner, rt, okey, obj, EventType::Modified, Some(prev));
        self.notify.send_replace(inner.rv);
        Ok(out)
    }

    /// DELETE: removes an object (cascading for namespaces and CRDs) and returns its last state.
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut inner = self.write();
        let ns = if rt.namespaced {
            ns.unwrap_or("default").to_string()
        } else {
            String::new()
        };
        let okey = (ns, name.to_string());
        let key = rt.key();
        let prev = inner
            .collections
            .get(&key)
            .and_then(|c| c.get(&okey))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        if dry_run {
            return Ok(prev.value());
        }
        let out = remove_locked(&mut inner, &key, &okey, &prev);
        if key.group.is_empty() && key.plural == "namespaces" {
            let namespaced: Vec<ResKey> = inner
                .collections
                .keys()
                .filter(|k| inner.registry.by_key(k).is_some_and(|t| t.namespaced))
                .cloned()
                .collect();
            for k in namespaced {
                let victims: Vec<(ObjKey, Arc<Stored>)> = inner
                    .collections
                    .get(&k)
                    .map(|c| {
                        c.iter()
                            .filter(|((ns, _), _)| *ns == okey.1)
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                for (ok, stored) in victims {
                    remove_locked(&mut inner, &k, &ok, &stored);
                }
            }
        }
        if rt.crd.is_none() && key.group == "apiextensions.k8s.io" {
            let old = prev.value();
            if let Ok(types) = crd_resource_types(&old)
                && let Some(t) = types.first()
            {
                let k = t.key();
                let victims: Vec<(ObjKey, Arc<Stored>)> = inner
                    .collections
                    .get(&k)
                    .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                for (ok, stored) in victims {
                    remove_locked(&mut inner, &k, &ok, &stored);
                }
                inner.collections.remove(&k);
            }
            inner.registry.unregister_crd(name);
        }
        let rv = inner.rv;
        drop(inner);
        self.notify.send_replace(rv);
        Ok(out)
    }

    /// In-process create-or-replace; server-owned fields are filled like a POST/PUT would.
    pub fn upsert(&self, obj: Value) -> Result<Value, ApiError> {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let rt = self
            .with_registry(|r| r.by_api_version_kind(api_version, kind).cloned())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "no kind \"{kind}\" is registered for version \"{api_version}\""
                ))
            })?;
        let name = meta_str(&obj, "name").unwrap_or("").to_string();
        let ns = meta_str(&obj, "namespace").map(str::to_string);
        let exists = self
            .get(
                &rt.key(),
                if rt.namespaced {
                    ns.as_deref().unwrap_or("default")
                } else {
                    ""
                },
                &name,
            )
            .is_some();
        if exists {
            let mut obj = obj;
            if let Some(m) = meta_mut(&mut obj) {
                m.remove("resourceVersion");
            }
            self.update(&rt, ns.as_deref(), &name, obj, false)
        } else {
            self.create(&rt, ns.as_deref(), obj, false)
        }
    }

    /// Every object of every resource, grouped by resource: definitions
    /// (CRDs) first, so a loader creates types before their objects.
    pub fn all_objects(&self) -> Vec<Value> {
        let inner = self.read();
        let mut types: Vec<_> = inner.registry.types().to_vec();
        types.sort_by_key(|t| {
            (
                !(t.plural == "customresourcedefinitions" || t.plural == "namespaces"),
                t.group.clone(),
                t.plural.clone(),
            )
        });
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for t in types {
            // Every served version of a resource shares its collection.
            let key = t.key();
            if !seen.insert(key.clone()) {
                continue;
            }
            if let Some(collection) = inner.collections.get(&key) {
                out.extend(collection.values().map(|s| s.value()));
            }
        }
        out
    }

    /// Every object of a resource (plural or plural.group), sorted by (namespace, name).
    pub fn objects(&self, plural: &str) -> Vec<Value> {
        let inner = self.read();
        let (p, g) = match plural.split_once('.') {
            Some((p, g)) => (p, Some(g)),
            None => (plural, None),
        };
        let Some(rt) = inner
            .registry
            .types()
            .iter()
            .find(|t| t.plural == p && g.is_none_or(|g| g == t.group))
        else {
            return Vec::new();
        };
        inner
            .collections
            .get(&rt.key())
            .map(|c| c.values().map(|s| s.value()).collect())
            .unwrap_or_default()
    }
}

/// A bulk load in progress (see [`Store::loader`]); it produces no watch events.
pub(crate) struct Loader<'a> {
    store: &'a Store,
    inner: std::sync::RwLockWriteGuard<'a, Inner>,
    /// Reused across objects so serializing does not regrow a fresh buffer every time.
    scratch: Vec<u8>,
}

impl Loader<'_> {
    /// Stores one object at the next resourceVersion, registering CRDs and unknown kinds.
    pub fn add(&mut self, mut obj: Value) -> Result<(), String> {
        let inner = &mut *self.inner;
        let (key, namespaced, defines_crds) = {
            let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
            if api_version.is_empty() || kind.is_empty() {
                return Err("an object has no apiVersion or kind".to_string());
            }
            let describe = |t: &ResourceType| {
                (
                    t.key(),
                    t.namespaced,
                    t.crd.is_none() && t.plural == "customresourcedefinitions",
                )
            };
            match inner.registry.by_api_version_kind(api_version, kind) {
                Some(t) => describe(t),
                None => {
                    let namespaced = meta_str(&obj, "namespace").is_some();
                    describe(
                        &inner
                            .registry
                            .register_inferred(api_version, kind, namespaced),
                    )
                }
            }
        };
        if defines_crds {
            inner.registry.register_crd(&obj)?;
            set_crd_status(&mut obj);
        }
        let name = match meta_str(&obj, "name") {
            Some(n) => n.to_string(),
            None => {
                let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
                return Err(format!("a {kind} has no metadata.name"));
            }
        };
        let ns = if namespaced {
            meta_str(&obj, "namespace").unwrap_or("default").to_string()
        } else {
            String::new()
        };
        fill_server_fields(inner, &mut obj);
        inner.rv += 1;
        let stored = make_stored(&key, obj, inner.rv, &ns, &name, &mut self.scratch);
        let coll = inner.collections.entry(key).or_default();
        Arc::make_mut(coll).insert((ns, name), Arc::new(stored));
        Ok(())
    }

    /// Makes the loaded objects the start of history: watches begin after them.
    pub fn finish(self) {
        let Loader {
            store, mut inner, ..
        } = self;
        inner.compacted_rv = inner.rv;
        inner.events.clear();
        let rv = inner.rv;
        drop(inner);
        store.notify.send_replace(rv);
    }
}

fn namespace_exists(inner: &Inner, ns: &str) -> bool {
    inner
        .collections
        .get(&ResKey {
            group: String::new(),
            plural: "namespaces".into(),
        })
        .is_some_and(|c| c.contains_key(&(String::new(), ns.to_string())))
}

fn resolve_namespace(
    rt: &ResourceType,
    url_ns: Option<&str>,
    obj: &Value,
) -> Result<String, ApiError> {
    if !rt.namespaced {
        return Ok(String::new());
    }
    let body_ns = meta_str(obj, "namespace").filter(|s| !s.is_empty());
    match (url_ns, body_ns) {
        (Some(u), Some(b)) if u != b => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        (Some(u), _) => Ok(u.to_string()),
        (None, Some(b)) => Ok(b.to_string()),
        (None, None) => Ok("default".to_string()),
    }
}

/// Fills apiVersion/kind when absent and rejects a body of another kind.
fn normalize_type_meta(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    let Some(o) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    };
    let expected = rt.api_version();
    match o.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            o.insert("apiVersion".into(), json!(expected));
        }
        Some(v) => {
            let (g, _) = crate::registry::split_api_version(v);
            if g != rt.group {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({expected})"
                )));
            }
        }
    }
    match o.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            o.insert("kind".into(), json!(rt.kind));
        }
        Some(k) if k != rt.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )));
        }
        Some(_) => {}
    }
    Ok(())
}

/// What the ServiceAccount admission plugin does to a new pod that names
/// no service account (the rest of a new pod's defaults is `defaults`'s;
/// no scheduler runs in the sim, so a created pod stays Pending).
fn admit_pod(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    let spec = o.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        let named = ["serviceAccountName", "serviceAccount"].iter().any(|k| {
            spec.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        });
        if !named {
            spec.insert("serviceAccountName".into(), json!("default"));
        }
    }
}

/// Whether an update changed what `metadata.generation` counts: everything
/// but metadata and status.
fn spec_changed(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("metadata");
            o.remove("status");
        }
        v
    };
    strip(new) != strip(old)
}

/// The DaemonSet strategy counts template changes in an annotation.
fn bump_template_generation(new: &mut Value, old: &Value) {
    const KEY: &str = "deprecated.daemonset.template.generation";
    let template = |v: &Value| v.get("spec").and_then(|s| s.get("template")).cloned();
    let previous = old
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(KEY))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok());
    let Some(previous) = previous else {
        return;
    };
    let next = if template(new) == template(old) {
        previous
    } else {
        previous + 1
    };
    if let Some(m) = meta_mut(new) {
        let ann = m.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.insert(KEY.into(), json!(next.to_string()));
        }
    }
}

/// The Service range every simulated cluster allocates ClusterIPs from
/// (EKS's default, 172.20.0.0/16).
const SERVICE_RANGE: (u8, u8) = (172, 20);
const NODE_PORT_LOW: i64 = 30_000;
const NODE_PORT_HIGH: i64 = 32_767;

fn service_ip(offset: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        SERVICE_RANGE.0,
        SERVICE_RANGE.1,
        offset / 256,
        offset % 256
    )
}

/// The ClusterIPs and NodePorts every other Service holds.
fn allocated(inner: &Inner, rt: &ResourceType, skip: (&str, &str)) -> (Vec<String>, Vec<i64>) {
    let mut ips = Vec::new();
    let mut ports = Vec::new();
    let Some(coll) = inner.collections.get(&rt.key()) else {
        return (ips, ports);
    };
    for ((ns, name), stored) in coll.iter() {
        if (ns.as_str(), name.as_str()) == skip {
            continue;
        }
        let svc = stored.value();
        let Some(spec) = svc.get("spec") else {
            continue;
        };
        for ip in spec
            .get("clusterIPs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(spec.get("clusterIP"))
            .filter_map(Value::as_str)
        {
            ips.push(ip.to_string());
        }
        for p in spec
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = p.get("nodePort").and_then(Value::as_i64) {
                ports.push(n);
            }
        }
    }
    (ips, ports)
}

/// What the Service registry drops when an update changes a Service's type
/// (`dropTypeDependentFields`): allocations and settings the new type has
/// no use for, when the update left them as they were.
fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let ty = |v: &Value| {
        v.pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string()
    };
    let (old_type, new_type) = (ty(old), ty(new));
    if old_type == new_type {
        return;
    }
    let same = |new: &Value, pointer: &str| new.pointer(pointer) == old.pointer(pointer);
    let node_ports = |v: &Value| -> Vec<Option<i64>> {
        v.pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| p.get("nodePort").and_then(Value::as_i64))
            .collect()
    };
    let needs_node_ports = |t: &str, v: &Value| {
        t == "NodePort"
            || (t == "LoadBalancer"
                && v.pointer("/spec/allocateLoadBalancerNodePorts")
                    .and_then(Value::as_bool)
                    != Some(false))
    };
    let mut remove = Vec::new();
    if old_type != "ExternalName" && new_type == "ExternalName" {
        for (field, pointer) in [
            ("clusterIP", "/spec/clusterIP"),
            ("clusterIPs", "/spec/clusterIPs"),
            ("ipFamilies", "/spec/ipFamilies"),
            ("ipFamilyPolicy", "/spec/ipFamilyPolicy"),
        ] {
            if same(new, pointer) {
                remove.push(field);
            }
        }
    }
    let drop_node_ports = needs_node_ports(&old_type, old)
        && !needs_node_ports(&new_type, new)
        && node_ports(new) == node_ports(old);
    if old_type == "LoadBalancer" {
        for (field, pointer) in [
            (
                "allocateLoadBalancerNodePorts",
                "/spec/allocateLoadBalancerNodePorts",
            ),
            ("loadBalancerClass", "/spec/loadBalancerClass"),
        ] {
            if same(new, pointer) {
                remove.push(field);
            }
        }
    }
    let external = |t: &str| t == "NodePort" || t == "LoadBalancer";
    if external(&old_type) && !external(&new_type) {
        for (field, pointer) in [
            ("externalTrafficPolicy", "/spec/externalTrafficPolicy"),
            ("healthCheckNodePort", "/spec/healthCheckNodePort"),
        ] {
            if same(new, pointer) {
                remove.push(field);
            }
        }
    }
    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
        for field in remove {
            spec.remove(field);
        }
        if drop_node_ports {
            for p in spec
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object_mut)
            {
                p.remove("nodePort");
            }
        }
    }
    if new_type != "LoadBalancer"
        && let Some(o) = new.as_object_mut()
    {
        let status = o.entry("status").or_insert_with(|| json!({}));
        if let Some(status) = status.as_object_mut() {
            status.insert("loadBalancer".into(), json!({}));
        }
    }
}

/// What the Service registry allocates: a ClusterIP (random, from the
/// service range) with `clusterIPs`, `ipFamilies` and `ipFamilyPolicy`,
/// and a NodePort (random, 30000-32767) for each port of a NodePort or
/// LoadBalancer Service. On update, values the client left out are kept
/// from the stored object. An address or port another Service holds is
/// refused as the real server refuses it.
fn allocate_service(
    inner: &mut Inner,
    rt: &ResourceType,
    name: &str,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let ns = meta_str(obj, "namespace").unwrap_or("").to_string();
    let (used_ips, used_ports) = allocated(inner, rt, (&ns, name));
    if let Some(old) = old {
        drop_type_dependent_fields(obj, old);
    }
    let old_spec = old
        .and_then(|o| o.get("spec"))
        .cloned()
        .unwrap_or(json!({}));
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if ty == "ExternalName" {
        return Ok(());
    }
    let invalid =
        |field: &str, detail: String| Err(ApiError::invalid("Service", "", name, field, &detail));
    let mut ip = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            spec.get("clusterIPs")
                .and_then(|a| a.get(0))
                .and_then(Value::as_str)
        })
        .map(str::to_string);
    if ip.is_none() {
        ip = old_spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    let ip = match ip {
        Some(ip) => {
            if ip != "None" && used_ips.contains(&ip) {
                return invalid(
                    "spec.clusterIPs",
                    format!(
                        "Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: provided IP is already allocated"
                    ),
                );
            }
            ip
        }
        None => loop {
            let candidate = service_ip(inner.rng.random_range(2..65_535));
            if !used_ips.contains(&candidate) {
                break candidate;
            }
        },
    };
    spec.insert("clusterIP".into(), json!(ip));
    spec.insert("clusterIPs".into(), json!([ip]));
    if spec.get("ipFamilies").is_none_or(Value::is_null) {
        spec.insert("ipFamilies".into(), json!(["IPv4"]));
    }
    if spec.get("ipFamilyPolicy").is_none_or(Value::is_null) {
        spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
    }
    let wants_node_ports = ty == "NodePort"
        || (ty == "LoadBalancer"
            && spec
                .get("allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false));
    if !wants_node_ports {
        return Ok(());
    }
    let old_ports: Vec<Value> = old_spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut taken = used_ports;
    let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for (i, p) in ports.iter_mut().enumerate() {
        let Some(p) = p.as_object_mut() else {
            continue;
        };
        let given = p
            .get("nodePort")
            .and_then(Value::as_i64)
            .filter(|n| *n != 0);
        let kept = || {
            old_ports
                .iter()
                .find(|o| o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol"))
                .and_then(|o| o.get("nodePort"))
                .and_then(Value::as_i64)
        };
        let port = match given.or_else(kept) {
            Some(n) => {
                if taken.contains(&n) {
                    return invalid(
                        &format!("spec.ports[{i}].nodePort"),
                        format!("Invalid value: {n}: provided port is already allocated"),
                    );
                }
                n
            }
            None => loop {
                let n = inner.rng.random_range(NODE_PORT_LOW..=NODE_PORT_HIGH);
                if !taken.contains(&n) {
                    break n;
                }
            },
        };
        taken.push(port);
        p.insert("nodePort".into(), json!(port));
    }
    Ok(())
}

fn set_crd_status(obj: &mut Value) {
    let names = obj
        .get("spec")
        .and_then(|s| s.get("names"))
        .cloned()
        .unwrap_or(json!({}));
    let storage: Vec<Value> = obj
        .get("spec")
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let now = now_rfc3339();
    if let Some(o) = obj.as_object_mut() {
        o.insert(
            "status".into(),
            json!({
                "acceptedNames": names,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
                ],
                "storedVersions": storage,
            }),
        );
    }
}

fn new_uid(rng: &mut ChaCha8Rng) -> String {
    let a: u32 = rng.random();
    let b: u16 = rng.random();
    let c: u16 = rng.random::<u16>() & 0x0fff;
    let d: u16 = (rng.random::<u16>() & 0x3fff) | 0x8000;
    let e: u64 = rng.random::<u64>() & 0xffff_ffff_ffff;
    format!("{a:08x}-{b:04x}-4{c:03x}-{d:04x}-{e:012x}")
}

/// Assigns uid and creationTimestamp when the object has none.
fn fill_server_fields(inner: &mut Inner, obj: &mut Value) {
    if let Some(m) = meta_mut(obj) {
        if m.get("uid")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            m.insert("uid".into(), json!(new_uid(&mut inner.rng)));
        }
        if m.get("creationTimestamp")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
        }
    }
}

/// Serializes through `scratch` and copies out exactly the bytes needed: a `Vec` grown by
/// serde_json carries up to twice its length in capacity, which `Bytes::from` would keep.
fn make_stored(
    key: &ResKey,
    mut obj: Value,
    rv: u64,
    ns: &str,
    name: &str,
    scratch: &mut Vec<u8>,
) -> Stored {
    if let Some(m) = meta_mut(&mut obj) {
        m.insert("resourceVersion".into(), json!(rv.to_string()));
    }
    let labels = extract_labels(&obj);
    let fields = extract_fields(key, &obj);
    scratch.clear();
    // Writing a Value into a Vec cannot fail: its keys are strings and the writer is infallible.
    let _ = serde_json::to_writer(&mut *scratch, &obj);
    Stored {
        rv,
        json: Bytes::copy_from_slice(scratch),
        namespace: ns.to_string(),
        name: name.to_string(),
        labels,
        fields,
    }
}

fn push_event(inner: &mut Inner, event: Event) {
    if inner.events.len() >= EVENT_CAPACITY
        && let Some(old) = inner.events.pop_front()
    {
        inner.compacted_rv = old.rv;
    }
    inner.events.push_back(Arc::new(event));
}

/// Stores `obj` at the next resourceVersion and records the event; returns the stored object.
fn commit(
    inner: &mut Inner,
    rt: &ResourceType,
    okey: ObjKey,
    obj: Value,
    kind: EventType,
    prev: Option<Arc<Stored>>,
) -> Value {
    let is_crd = rt.crd.is_none() && rt.group == "apiextensions.k8s.io";
    if is_crd {
        // Validated by check_crd before we got here.
        let _ = inner.registry.register_crd(&obj);
    }
    inner.rv += 1;
    let rv = inner.rv;
    let key = rt.key();
    let stored = Arc::new(make_stored(
        &key,
        obj,
        rv,
        &okey.0,
        &okey.1,
        &mut Vec::new(),
    ));
    let out = stored.value();
    let coll = inner.collections.entry(key.clone()).or_default();
    Arc::make_mut(coll).insert(okey, stored.clone());
    push_event(
        inner,
        Event {
            rv,
            res: key,
            kind,
            obj: stored,
            prev,
        },
    );
    out
}

/// Removes one object, recording a DELETED event that carries the deletion's resourceVersion.
fn remove_locked(inner: &mut Inner, key: &ResKey, okey: &ObjKey, prev: &Arc<Stored>) -> Value {
    inner.rv += 1;
    let rv = inner.rv;
    let last = make_stored(
        key,
        prev.value(),
        rv,
        &prev.namespace,
        &prev.name,
        &mut Vec::new(),
    );
    let last = Arc::new(last);
    if let Some(coll) = inner.collections.get_mut(key) {
        Arc::make_mut(coll).remove(okey);
    }
    push_event(
        inner,
        Event {
            rv,
            res: key.clone(),
            kind: EventType::Deleted,
            obj: last.clone(),
            prev: Some(prev.clone()),
        },
    );
    last.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    }

    fn pod(ns: &str, name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": {"app": "x"}}, "spec": {"nodeName": "n1"}})
    }

    fn rt(store: &Store, plural: &str) -> ResourceType {
        store.with_registry(|r| {
            r.types()
                .iter()
                .find(|t| t.plural == plural)
                .cloned()
                .unwrap()
        })
    }

    fn pods_key() -> ResKey {
        ResKey {
            group: "".into(),
            plural: "pods".into(),
        }
    }

    #[test]
    fn load_assigns_increasing_versions_and_sorts() {
        let s = Store::new(1);
        s.load(vec![ns("b"), ns("a"), pod("b", "p2"), pod("a", "p1")])
            .unwrap();
        let pods = s.objects("pods");
        assert_eq!(pods.len(), 2);
        assert_eq!(pods[0]["metadata"]["name"], "p1");
        assert!(pods[0]["metadata"]["uid"].is_string());
        let (rv, _) = s.head();
        assert_eq!(rv, 4);
        // Loading produces no events: a watch from the load's version sees nothing.
        match s.poll_events(&pods_key(), rv, 0) {
            WatchPoll::Events(e, _) => assert!(e.is_empty()),
            WatchPoll::Expired { .. } => panic!("expired"),
        }
    }

    #[test]
    fn create_conflicts_and_validation() {
        let s = Store::new(1);
        s.load(vec![ns("default")]).unwrap();
        let p = rt(&s, "pods");
        let created = s
            .create(&p, Some("default"), pod("default", "a"), false)
            .unwrap();
        assert_eq!(created["metadata"]["resourceVersion"], "2");
        let e = s
            .create(&p, Some("default"), pod("default", "a"), false)
            .unwrap_err();
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        let e = s
            .create(&p, Some("default"), json!({"metadata": {}}), false)
            .unwrap_err();
        assert_eq!(e.code, 422);
        let e = s
            .create(&p, Some("nope"), pod("nope", "a"), false)
            .unwrap_err();
        assert_eq!(e.message, "namespaces \"nope\" not found");
        let e = s
            .create(&p, Some("default"), pod("default", "Bad_Name"), false)
            .unwrap_err();
        assert_eq!(e.code, 422);
        let generated = s
            .create(
                &p,
                Some("default"),
                json!({"metadata": {"generateName": "web-"}}),
                false,
            )
            .unwrap();
        assert!(
            generated["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("web-")
        );
    }

    #[test]
    fn update_checks_resource_version_and_emits_modified() {
        let s = Store::new(1);
        s.load(vec![ns("default"), pod("default", "a")]).unwrap();
        let p = rt(&s, "pods");
        let (rv0, epoch) = s.head();
        let mut stale = pod("default", "a");
        stale["metadata"]["resourceVersion"] = json!("1");
        let e = s
            .update(&p, Some("default"), "a", stale, false)
            .unwrap_err();
        assert_eq!(e.reason, "Conflict");
        let mut changed = pod("default", "a");
        changed["spec"]["nodeName"] = json!("n2");
        let out = s
            .update(&p, Some("default"), "a", changed.clone(), false)
            .unwrap();
        assert_eq!(out["metadata"]["generation"], 2);
        // Same content again is a no-op.
        let again = s
            .update(&p, Some("default"), "a", out.clone(), false)
            .unwrap();
        assert_eq!(
            again["metadata"]["resourceVersion"],
            out["metadata"]["resourceVersion"]
        );
        match s.poll_events(&pods_key(), rv0, epoch) {
            WatchPoll::Events(e, _) => {
                assert_eq!(e.len(), 1);
                assert_eq!(e[0].kind, EventType::Modified);
                assert_eq!(e[0].obj.fields[0].1, "n2");
            }
            WatchPoll::Expired { .. } => panic!("expired"),
        }
    }

    #[test]
    fn services_get_addresses_and_node_ports_like_the_real_registry() {
        let s = Store::new(1);
        s.load(vec![ns("default")]).unwrap();
        let svc = rt(&s, "services");
        let service = |name: &str, spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec});
        let np = s
            .create(
                &svc,
                Some("default"),
                service("np", json!({"type": "NodePort", "ports": [{"port": 80}]})),
                false,
            )
            .unwrap();
        let ip = np["spec"]["clusterIP"].as_str().unwrap().to_string();
        assert!(ip.starts_with("172.20."), "{ip}");
        assert_eq!(np["spec"]["clusterIPs"], json!([ip]));
        assert_eq!(np["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(np["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(np["spec"]["ports"][0]["targetPort"], 80);
        let port = np["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
        assert!((30_000..=32_767).contains(&port));
        assert_eq!(np["status"], json!({"loadBalancer": {}}));
        assert!(np["metadata"].get("generation").is_none());

        // An address or a port another Service holds is refused.
        let e = s
            .create(
                &svc,
                Some("default"),
                service("dns", json!({"clusterIP": ip, "ports": [{"port": 53}]})),
                false,
            )
            .unwrap_err();
        assert_eq!(e.code, 422);
        assert!(
            e.message.contains("provided IP is already allocated"),
            "{}",
            e.message
        );
        let e = s
            .create(
                &svc,
                Some("default"),
                service(
                    "np2",
                    json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}),
                ),
                false,
            )
            .unwrap_err();
        assert!(
            e.message.contains("provided port is already allocated"),
            "{}",
            e.message
        );

        // An update keeps the allocations; a type that needs no node ports
        // drops them and the external traffic policy.
        let mut update = np.clone();
        update["spec"].as_object_mut().unwrap().remove("clusterIP");
        update["spec"].as_object_mut().unwrap().remove("clusterIPs");
        let kept = s
            .update(&svc, Some("default"), "np", update, false)
            .unwrap();
        assert_eq!(kept["spec"]["clusterIP"], json!(ip));
        let mut update = kept.clone();
        update["spec"]["type"] = json!("ClusterIP");
        let changed = s
            .update(&svc, Some("default"), "np", update, false)
            .unwrap();
        assert!(changed["spec"]["ports"][0].get("nodePort").is_none());
        assert!(changed["spec"].get("externalTrafficPolicy").is_none());
        assert_eq!(changed["spec"]["clusterIP"], json!(ip));

        let headless = s
            .create(
                &svc,
                Some("default"),
                service(
                    "headless",
                    json!({"clusterIP": "None", "ports": [{"port": 80}]}),
                ),
                false,
            )
            .unwrap();
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    }

    #[test]
    fn generation_is_kept_only_where_the_real_server_keeps_it() {
        let s = Store::new(1);
        s.load(vec![ns("default")]).unwrap();
        let cm = s
            .create(
                &rt(&s, "configmaps"),
                Some("default"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}),
                false,
            )
            .unwrap();
        assert!(cm["metadata"].get("generation").is_none());
        let deployments = rt(&s, "deployments");
        let d = s
            .create(
                &deployments,
                Some("default"),
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                       "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
                false,
            )
            .unwrap();
        assert_eq!(d["metadata"]["generation"], 1);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
        // A Deployment's annotations count, like its spec.
        let mut annotated = d.clone();
        annotated["metadata"]["annotations"] = json!({"note": "x"});
        let annotated = s
            .update(&deployments, Some("default"), "d", annotated, false)
            .unwrap();
        assert_eq!(annotated["metadata"]["generation"], 2);
        let mut labelled = annotated.clone();
        labelled["metadata"]["labels"] = json!({"team": "x"});
        let labelled = s
            .update(&deployments, Some("default"), "d", labelled, false)
            .unwrap();
        assert_eq!(labelled["metadata"]["generation"], 2);
    }

    #[test]
    fn a_new_pod_gets_its_status_unless_it_sends_one() {
        let s = Store::new(1);
        s.load(vec![ns("default")]).unwrap();
        let p = rt(&s, "pods");
        let mut guaranteed = pod("default", "g");
        guaranteed["spec"]["containers"] = json!([{"name": "c", "image": "nginx:1", "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}}}]);
        let created = s.create(&p, Some("default"), guaranteed, false).unwrap();
        assert_eq!(
            created["status"],
            json!({"phase": "Pending", "qosClass": "Guaranteed"})
        );
        assert_eq!(
            created["spec"]["containers"][0]["resources"]["requests"],
            json!({"cpu": "500m", "memory": "1Gi"})
        );
        assert_eq!(created["spec"]["serviceAccountName"], "default");
        assert_eq!(created["spec"]["serviceAccount"], "default");
        let mut running = pod("default", "r");
        running["status"] = json!({"phase": "Running"});
        let created = s.create(&p, Some("default"), running, false).unwrap();
        assert_eq!(created["status"], json!({"phase": "Running"}));
    }

    #[test]
    fn every_version_of_a_resource_is_exported_once() {
        let s = Store::new(1);
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.io"},
            "spec": {"group": "example.io", "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                     "versions": [{"name": "v1", "served": true, "storage": true},
                                  {"name": "v1beta1", "served": true, "storage": false}]}
        });
        s.load(vec![
            ns("default"),
            crd,
            json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}),
        ])
        .unwrap();
        let widgets = s
            .all_objects()
            .into_iter()
            .filter(|o| o["kind"] == "Widget")
            .count();
        assert_eq!(widgets, 1);
    }

    #[test]
    fn namespace_delete_cascades_and_expiry_compacts() {
        let s = Store::new(1);
        s.load(vec![ns("x"), pod("x", "a"), pod("x", "b")]).unwrap();
        let (rv0, epoch) = s.head();
        let n = rt(&s, "namespaces");
        s.delete(&n, None, "x", false).unwrap();
        assert!(s.objects("pods").is_empty());
        match s.poll_events(&pods_key(), rv0, epoch) {
            WatchPoll::Events(e, _) => {
                assert_eq!(e.len(), 2);
                assert!(e.iter().all(|e| e.kind == EventType::Deleted));
            }
            WatchPoll::Expired { .. } => panic!("expired"),
        }
        s.force_expiry();
        assert!(matches!(
            s.poll_events(&pods_key(), rv0, epoch),
            WatchPoll::Expired { .. }
        ));
        assert_eq!(s.check_watch_start(rv0).unwrap_err().code, 410);
    }

    #[test]
    fn crd_lifecycle_registers_and_cascades() {
        let s = Store::new(1);
        s.load(vec![ns("default")]).unwrap();
        let crd_rt = rt(&s, "customresourcedefinitions");
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.io"},
            "spec": {"group": "example.io", "scope": "Namespaced",
                     "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}
        });
        s.create(&crd_rt, None, crd, false).unwrap();
        s.upsert(json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}))
            .unwrap();
        assert_eq!(s.objects("widgets").len(), 1);
        s.delete(&crd_rt, None, "widgets.example.io", false)
            .unwrap();
        assert!(s.objects("widgets").is_empty());
        assert!(s.with_registry(|r| !r.has_group_version("example.io", "v1")));
    }

    #[test]
    fn snapshots_survive_writes() {
        let s = Store::new(1);
        s.load(vec![ns("default"), pod("default", "a")]).unwrap();
        let (rv, snap) = s.snapshot(&pods_key());
        s.remember_snapshot(&pods_key(), rv, snap);
        let p = rt(&s, "pods");
        s.create(&p, Some("default"), pod("default", "b"), false)
            .unwrap();
        assert_eq!(s.recall_snapshot(&pods_key(), rv).unwrap().len(), 1);
        assert_eq!(s.snapshot(&pods_key()).1.len(), 2);
    }
}
