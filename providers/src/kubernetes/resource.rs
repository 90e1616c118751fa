//! Identity of a Kubernetes API resource (group, version, kind, plural) and its URLs.

/// One listable API resource, as discovery reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceRef {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl ResourceRef {
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Self {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            namespaced,
        }
    }

    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The collection URL, cluster-wide or within one namespace.
    pub fn list_path(&self, namespace: Option<&str>) -> String {
        let prefix = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{prefix}/namespaces/{ns}/{}", self.plural),
            _ => format!("{prefix}/{}", self.plural),
        }
    }
}

/// The built-in resources kq's typed tables read, defined once so a table
/// and its child tables (ingresses, ingress_rules, ingress_tls; workloads
/// and workload_containers) can never disagree on group or version.
pub mod builtin {
    use super::ResourceRef;

    pub fn clusterrolebindings() -> ResourceRef {
        ResourceRef::new(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        )
    }

    pub fn clusterroles() -> ResourceRef {
        ResourceRef::new(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        )
    }

    pub fn configmaps() -> ResourceRef {
        ResourceRef::new("", "v1", "ConfigMap", "configmaps", true)
    }

    pub fn cronjobs() -> ResourceRef {
        ResourceRef::new("batch", "v1", "CronJob", "cronjobs", true)
    }

    pub fn customresourcedefinitions() -> ResourceRef {
        ResourceRef::new(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
    }

    pub fn daemonsets() -> ResourceRef {
        ResourceRef::new("apps", "v1", "DaemonSet", "daemonsets", true)
    }

    pub fn deployments() -> ResourceRef {
        ResourceRef::new("apps", "v1", "Deployment", "deployments", true)
    }

    pub fn endpoints() -> ResourceRef {
        ResourceRef::new("", "v1", "Endpoints", "endpoints", true)
    }

    pub fn events() -> ResourceRef {
        ResourceRef::new("", "v1", "Event", "events", true)
    }

    pub fn horizontalpodautoscalers() -> ResourceRef {
        ResourceRef::new(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
        )
    }

    pub fn ingresses() -> ResourceRef {
        ResourceRef::new("networking.k8s.io", "v1", "Ingress", "ingresses", true)
    }

    pub fn jobs() -> ResourceRef {
        ResourceRef::new("batch", "v1", "Job", "jobs", true)
    }

    pub fn limitranges() -> ResourceRef {
        ResourceRef::new("", "v1", "LimitRange", "limitranges", true)
    }

    pub fn namespaces() -> ResourceRef {
        ResourceRef::new("", "v1", "Namespace", "namespaces", false)
    }

    pub fn networkpolicies() -> ResourceRef {
        ResourceRef::new(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        )
    }

    pub fn nodes() -> ResourceRef {
        ResourceRef::new("", "v1", "Node", "nodes", false)
    }

    pub fn persistentvolumeclaims() -> ResourceRef {
        ResourceRef::new(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
        )
    }

    pub fn persistentvolumes() -> ResourceRef {
        ResourceRef::new("", "v1", "PersistentVolume", "persistentvolumes", false)
    }

    pub fn poddisruptionbudgets() -> ResourceRef {
        ResourceRef::new(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
    }

    pub fn pods() -> ResourceRef {
        ResourceRef::new("", "v1", "Pod", "pods", true)
    }

    pub fn replicasets() -> ResourceRef {
        ResourceRef::new("apps", "v1", "ReplicaSet", "replicasets", true)
    }

    pub fn resourcequotas() -> ResourceRef {
        ResourceRef::new("", "v1", "ResourceQuota", "resourcequotas", true)
    }

    pub fn rolebindings() -> ResourceRef {
        ResourceRef::new(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
        )
    }

    pub fn roles() -> ResourceRef {
        ResourceRef::new("rbac.authorization.k8s.io", "v1", "Role", "roles", true)
    }

    pub fn secrets() -> ResourceRef {
        ResourceRef::new("", "v1", "Secret", "secrets", true)
    }

    pub fn serviceaccounts() -> ResourceRef {
        ResourceRef::new("", "v1", "ServiceAccount", "serviceaccounts", true)
    }

    pub fn services() -> ResourceRef {
        ResourceRef::new("", "v1", "Service", "services", true)
    }

    pub fn statefulsets() -> ResourceRef {
        ResourceRef::new("apps", "v1", "StatefulSet", "statefulsets", true)
    }

    pub fn storageclasses() -> ResourceRef {
        ResourceRef::new(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            false,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_paths_follow_the_api_layout() {
        let pods = ResourceRef::new("", "v1", "Pod", "pods", true);
        assert_eq!(pods.list_path(None), "/api/v1/pods");
        assert_eq!(pods.list_path(Some("a")), "/api/v1/namespaces/a/pods");
        let crb = ResourceRef::new(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        );
        assert_eq!(crb.api_version(), "rbac.authorization.k8s.io/v1");
        assert_eq!(
            crb.list_path(Some("ignored")),
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
        );
    }
}
