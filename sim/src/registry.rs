//! The API resource registry: every built-in kind the sim serves plus the
//! kinds that CustomResourceDefinitions in the store define.
//!
//! Discovery, routing, RBAC and the store all look resources up here, so a
//! CRD created at run time becomes servable (and discoverable) at once.

use serde_json::Value;

/// The verbs of an ordinary read-write resource.
pub(crate) const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One additional printer column of a CRD (or of a built-in table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// One resource (plural) served in one group/version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    pub categories: Vec<String>,
    /// `Some(crd name)` for CRD-defined resources.
    pub crd: Option<String>,
    pub printer_columns: Vec<PrinterColumn>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Storage key: all versions of a resource share one collection.
    pub fn key(&self) -> ResKey {
        ResKey {
            group: self.group.clone(),
            plural: self.plural.clone(),
        }
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// The storage identity of a resource, independent of version.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ResKey {
    pub group: String,
    pub plural: String,
}

/// (group, version, kind, plural, shortNames, namespaced, categories)
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
    &'static [&'static str],
);

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

const BUILTINS: &[Builtin] = &[
    ("", "v1", "Namespace", "namespaces", &["ns"], false, NONE),
    ("", "v1", "Node", "nodes", &["no"], false, NONE),
    ("", "v1", "Pod", "pods", &["po"], true, ALL),
    ("", "v1", "Service", "services", &["svc"], true, ALL),
    ("", "v1", "Endpoints", "endpoints", &["ep"], true, NONE),
    ("", "v1", "ConfigMap", "configmaps", &["cm"], true, NONE),
    ("", "v1", "Secret", "secrets", NONE, true, NONE),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        &["sa"],
        true,
        NONE,
    ),
    ("", "v1", "Event", "events", &["ev"], true, NONE),
    (
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        &["pv"],
        false,
        NONE,
    ),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        &["pvc"],
        true,
        NONE,
    ),
    (
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        &["quota"],
        true,
        NONE,
    ),
    (
        "",
        "v1",
        "LimitRange",
        "limitranges",
        &["limits"],
        true,
        NONE,
    ),
    (
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        &["rc"],
        true,
        ALL,
    ),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        &["deploy"],
        true,
        ALL,
    ),
    (
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        &["rs"],
        true,
        ALL,
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        &["sts"],
        true,
        ALL,
    ),
    ("apps", "v1", "DaemonSet", "daemonsets", &["ds"], true, ALL),
    (
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        NONE,
        true,
        NONE,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        &["hpa"],
        true,
        ALL,
    ),
    ("batch", "v1", "Job", "jobs", NONE, true, ALL),
    ("batch", "v1", "CronJob", "cronjobs", &["cj"], true, ALL),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        &["ing"],
        true,
        NONE,
    ),
    (
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        NONE,
        false,
        NONE,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        &["netpol"],
        true,
        NONE,
    ),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        &["pdb"],
        true,
        NONE,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        NONE,
        false,
        NONE,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        NONE,
        false,
        NONE,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        NONE,
        true,
        NONE,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        NONE,
        true,
        NONE,
    ),
    (
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        &["sc"],
        false,
        NONE,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
        false,
        &["api-extensions"],
    ),
    (
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        NONE,
        true,
        NONE,
    ),
];

/// Resources that only accept `create` and are never stored.
const REVIEWS: &[(&str, &str)] = &[
    ("SelfSubjectAccessReview", "selfsubjectaccessreviews"),
    ("SelfSubjectRulesReview", "selfsubjectrulesreviews"),
];

pub(crate) const AUTHZ_GROUP: &str = "authorization.k8s.io";

/// The resources of one cluster, in registration order (which is discovery order).
#[derive(Clone, Debug)]
pub(crate) struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    pub fn builtins() -> Self {
        let mut types: Vec<ResourceType> = BUILTINS
            .iter()
            .map(
                |&(group, version, kind, plural, short, namespaced, cats)| ResourceType {
                    group: group.into(),
                    version: version.into(),
                    kind: kind.into(),
                    plural: plural.into(),
                    singular: kind.to_ascii_lowercase(),
                    short_names: short.iter().map(|s| s.to_string()).collect(),
                    namespaced,
                    verbs: STANDARD_VERBS.iter().map(|s| s.to_string()).collect(),
                    categories: cats.iter().map(|s| s.to_string()).collect(),
                    crd: None,
                    printer_columns: Vec::new(),
                },
            )
            .collect();
        for &(kind, plural) in REVIEWS {
            types.push(ResourceType {
                group: AUTHZ_GROUP.into(),
                version: "v1".into(),
                kind: kind.into(),
                plural: plural.into(),
                singular: kind.to_ascii_lowercase(),
                short_names: Vec::new(),
                namespaced: false,
                verbs: vec!["create".into()],
                categories: Vec::new(),
                crd: None,
                printer_columns: Vec::new(),
            });
        }
        Registry { types }
    }

    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// The preferred (first registered) version of a resource.
    pub fn by_key(&self, key: &ResKey) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == key.group && t.plural == key.plural)
    }

    pub fn by_api_version_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (group, version) = split_api_version(api_version);
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
    }

    /// Whether the group/version is served at all.
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.types
            .iter()
            .any(|t| t.group == group && t.version == version)
    }

    /// Groups in discovery order, each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceType> + 'a {
        self.types
            .iter()
            .filter(move |t| t.group == group && t.version == version)
    }

    /// Registers (or re-registers) the resources a CRD object defines.
    pub fn register_crd(&mut self, crd: &Value) -> Result<(), String> {
        let defined = crd_resource_types(crd)?;
        let name = defined
            .first()
            .and_then(|t| t.crd.clone())
            .unwrap_or_default();
        self.unregister_crd(&name);
        for t in &defined {
            let clash = self
                .types
                .iter()
                .any(|o| o.group == t.group && o.version == t.version && o.plural == t.plural);
            if clash {
                return Err(format!(
                    "resource {}/{} {} is already served",
                    t.group, t.version, t.plural
                ));
            }
        }
        self.types.extend(defined);
        Ok(())
    }

    /// Registers a kind the sim does not know (from generated objects), guessing its plural
    /// the way Kubernetes' default RESTMapper does, so an unexpected kind never breaks start-up.
    pub fn register_inferred(
        &mut self,
        api_version: &str,
        kind: &str,
        namespaced: bool,
    ) -> ResourceType {
        let (group, version) = split_api_version(api_version);
        let lower = kind.to_ascii_lowercase();
        let plural = if lower.ends_with('s')
            || lower.ends_with('x')
            || lower.ends_with("ch")
            || lower.ends_with("sh")
        {
            format!("{lower}es")
        } else if let Some(stem) = lower.strip_suffix('y')
            && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
        {
            format!("{stem}ies")
        } else {
            format!("{lower}s")
        };
        let t = ResourceType {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural,
            singular: lower,
            short_names: Vec::new(),
            namespaced,
            verbs: STANDARD_VERBS.iter().map(|s| s.to_string()).collect(),
            categories: Vec::new(),
            crd: None,
            printer_columns: Vec::new(),
        };
        self.types.push(t.clone());
        t
    }

    pub fn unregister_crd(&mut self, crd_name: &str) {
        self.types.retain(|t| t.crd.as_deref() != Some(crd_name));
    }
}

pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn strings_at(v: &Value, path: &[&str]) -> Vec<String> {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return Vec::new(),
        }
    }
    cur.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource types (one per served version) a CRD object defines.
pub(crate) fn crd_resource_types(crd: &Value) -> Result<Vec<ResourceType>, String> {
    let group = str_at(crd, &["spec", "group"]).ok_or("spec.group: Required value")?;
    let plural =
        str_at(crd, &["spec", "names", "plural"]).ok_or("spec.names.plural: Required value")?;
    let kind = str_at(crd, &["spec", "names", "kind"]).ok_or("spec.names.kind: Required value")?;
    let expected_name = format!("{plural}.{group}");
    let name = str_at(crd, &["metadata", "name"]).unwrap_or(&expected_name);
    if name != expected_name {
        return Err(format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        ));
    }
    let singular = str_at(crd, &["spec", "names", "singular"])
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let namespaced = str_at(crd, &["spec", "scope"]) != Some("Cluster");
    let short_names = strings_at(crd, &["spec", "names", "shortNames"]);
    let categories = strings_at(crd, &["spec", "names", "categories"]);
    let versions = crd
        .get("spec")
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .ok_or("spec.versions: Required value")?;
    let mut out = Vec::new();
    for v in versions {
        let served = v.get("served").and_then(Value::as_bool).unwrap_or(true);
        let Some(version) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        if !served {
            continue;
        }
        let printer_columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .filter_map(|c| {
                        Some(PrinterColumn {
                            name: c.get("name")?.as_str()?.to_string(),
                            type_: c
                                .get("type")
                                .and_then(Value::as_str)
                                .unwrap_or("string")
                                .to_string(),
                            format: c
                                .get("format")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            description: c
                                .get("description")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                            json_path: c.get("jsonPath")?.as_str()?.to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(ResourceType {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            singular: singular.clone(),
            short_names: short_names.clone(),
            namespaced,
            verbs: STANDARD_VERBS.iter().map(|s| s.to_string()).collect(),
            categories: categories.clone(),
            crd: Some(expected_name.clone()),
            printer_columns,
        });
    }
    if out.is_empty() {
        return Err("spec.versions: Invalid value: must have exactly one served version".into());
    }
    // The storage version is preferred in discovery; keep it first.
    let storage = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str);
    if let Some(sv) = storage
        && let Some(pos) = out.iter().position(|t| t.version == sv)
    {
        let t = out.remove(pos);
        out.insert(0, t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "certificates.cert.example.io"},
            "spec": {
                "group": "cert.example.io",
                "names": {"plural": "certificates", "singular": "certificate", "kind": "Certificate", "shortNames": ["cert"], "categories": ["all"]},
                "scope": "Namespaced",
                "versions": [
                    {"name": "v1alpha1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true,
                     "additionalPrinterColumns": [{"name": "Ready", "type": "string", "jsonPath": ".status.ready"}]}
                ]
            }
        })
    }

    #[test]
    fn builtins_cover_the_issue_kinds() {
        let r = Registry::builtins();
        for (g, p) in [
            ("", "pods"),
            ("apps", "deployments"),
            ("batch", "cronjobs"),
            ("networking.k8s.io", "ingresses"),
            ("discovery.k8s.io", "endpointslices"),
            ("policy", "poddisruptionbudgets"),
            ("autoscaling", "horizontalpodautoscalers"),
            ("storage.k8s.io", "storageclasses"),
            ("rbac.authorization.k8s.io", "clusterrolebindings"),
        ] {
            assert!(
                r.by_key(&ResKey {
                    group: g.into(),
                    plural: p.into()
                })
                .is_some(),
                "{g}/{p}"
            );
        }
        assert!(r.groups().iter().any(|(g, _)| g.is_empty()));
    }

    #[test]
    fn crd_registration_prefers_storage_version_and_unregisters() {
        let mut r = Registry::builtins();
        r.register_crd(&crd()).unwrap();
        let t = r
            .by_key(&ResKey {
                group: "cert.example.io".into(),
                plural: "certificates".into(),
            })
            .unwrap();
        assert_eq!(t.version, "v1");
        assert_eq!(t.printer_columns.len(), 1);
        assert!(
            r.lookup("cert.example.io", "v1alpha1", "certificates")
                .is_some()
        );
        // Re-registering is idempotent.
        r.register_crd(&crd()).unwrap();
        assert_eq!(r.in_group_version("cert.example.io", "v1").count(), 1);
        r.unregister_crd("certificates.cert.example.io");
        assert!(!r.has_group_version("cert.example.io", "v1"));
    }

    #[test]
    fn unknown_kinds_get_inferred_plurals() {
        let mut r = Registry::builtins();
        let t = r.register_inferred("scheduling.k8s.io/v1", "PriorityClass", false);
        assert_eq!(t.plural, "priorityclasses");
        assert_eq!(
            r.register_inferred("coordination.k8s.io/v1", "Lease", true)
                .plural,
            "leases"
        );
        assert_eq!(
            r.register_inferred("x.io/v1", "Policy", true).plural,
            "policies"
        );
        assert_eq!(
            r.register_inferred("x.io/v1", "Gateway", true).plural,
            "gateways"
        );
        assert!(
            r.by_api_version_kind("scheduling.k8s.io/v1", "PriorityClass")
                .is_some()
        );
    }

    #[test]
    fn crd_without_group_is_rejected() {
        let mut bad = crd();
        bad["spec"].as_object_mut().unwrap().remove("group");
        assert!(crd_resource_types(&bad).is_err());
    }
}
