//! Which API resource a manifest's `apiVersion` and `kind` name, without a server.
//!
//! A file says `kind: Deployment`; a table needs the resource (plural,
//! scope). kq knows the built-in kinds from k8s-openapi's own constants,
//! the custom ones from CustomResourceDefinitions among the manifests, and
//! guesses the rest as kubectl's RESTMapper does (lowercased plural,
//! namespaced), saying so.

use std::any::TypeId;
use std::collections::HashMap;

use k8s_openapi::{NamespaceResourceScope, Resource};
use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _, Value};

use crate::kubernetes::resource::ResourceRef;

/// How a kind was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindSource {
    /// A kind every API server serves.
    Builtin,
    /// A CustomResourceDefinition among the manifests.
    Definition,
    /// Neither: plural and scope are guesses.
    Guessed,
}

/// (group, kind) → resource.
#[derive(Clone, Debug, Default)]
pub struct KindResolver {
    known: HashMap<(String, String), (ResourceRef, KindSource)>,
}

fn builtin<K: Resource + 'static>() -> ResourceRef {
    ResourceRef::new(
        K::GROUP,
        K::VERSION,
        K::KIND,
        K::URL_PATH_SEGMENT,
        TypeId::of::<K::Scope>() == TypeId::of::<NamespaceResourceScope>(),
    )
}

/// Every kind a v1.33 API server serves that a manifest may declare.
fn builtin_kinds() -> Vec<ResourceRef> {
    use k8s_openapi::api::{
        admissionregistration::v1 as admission, apps::v1 as apps, autoscaling::v2 as autoscaling,
        batch::v1 as batch, certificates::v1 as certificates, coordination::v1 as coordination,
        core::v1 as core, discovery::v1 as discovery, events::v1 as events,
        flowcontrol::v1 as flowcontrol, networking::v1 as networking, node::v1 as node,
        policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
        storage::v1 as storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;
    vec![
        builtin::<core::ConfigMap>(),
        builtin::<core::Endpoints>(),
        builtin::<core::Event>(),
        builtin::<core::LimitRange>(),
        builtin::<core::Namespace>(),
        builtin::<core::Node>(),
        builtin::<core::PersistentVolume>(),
        builtin::<core::PersistentVolumeClaim>(),
        builtin::<core::Pod>(),
        builtin::<core::PodTemplate>(),
        builtin::<core::ReplicationController>(),
        builtin::<core::ResourceQuota>(),
        builtin::<core::Secret>(),
        builtin::<core::Service>(),
        builtin::<core::ServiceAccount>(),
        builtin::<apps::ControllerRevision>(),
        builtin::<apps::DaemonSet>(),
        builtin::<apps::Deployment>(),
        builtin::<apps::ReplicaSet>(),
        builtin::<apps::StatefulSet>(),
        builtin::<autoscaling::HorizontalPodAutoscaler>(),
        builtin::<batch::CronJob>(),
        builtin::<batch::Job>(),
        builtin::<certificates::CertificateSigningRequest>(),
        builtin::<coordination::Lease>(),
        builtin::<discovery::EndpointSlice>(),
        builtin::<events::Event>(),
        builtin::<flowcontrol::FlowSchema>(),
        builtin::<flowcontrol::PriorityLevelConfiguration>(),
        builtin::<networking::Ingress>(),
        builtin::<networking::IngressClass>(),
        builtin::<networking::NetworkPolicy>(),
        builtin::<node::RuntimeClass>(),
        builtin::<policy::PodDisruptionBudget>(),
        builtin::<rbac::ClusterRole>(),
        builtin::<rbac::ClusterRoleBinding>(),
        builtin::<rbac::Role>(),
        builtin::<rbac::RoleBinding>(),
        builtin::<scheduling::PriorityClass>(),
        builtin::<storage::CSIDriver>(),
        builtin::<storage::CSINode>(),
        builtin::<storage::CSIStorageCapacity>(),
        builtin::<storage::StorageClass>(),
        builtin::<storage::VolumeAttachment>(),
        builtin::<admission::MutatingWebhookConfiguration>(),
        builtin::<admission::ValidatingWebhookConfiguration>(),
        builtin::<admission::ValidatingAdmissionPolicy>(),
        builtin::<admission::ValidatingAdmissionPolicyBinding>(),
        builtin::<apiextensions::CustomResourceDefinition>(),
        builtin::<apiregistration::APIService>(),
    ]
}

impl KindResolver {
    /// The built-in kinds, plus `extra` (the resources kq's typed tables
    /// read, which win where they overlap).
    pub fn new(extra: &[ResourceRef]) -> Self {
        let mut known = HashMap::new();
        for resource in builtin_kinds().into_iter().chain(extra.iter().cloned()) {
            known.insert(
                (resource.group.clone(), resource.kind.clone()),
                (resource, KindSource::Builtin),
            );
        }
        Self { known }
    }

    /// Learns the kinds a CustomResourceDefinition object defines (its
    /// served versions' first, or its storage version).
    pub fn learn_definition(&mut self, crd: &Value) {
        let spec = &crd["spec"];
        let (Some(group), Some(kind), Some(plural)) = (
            spec["group"].as_str(),
            spec["names"]["kind"].as_str(),
            spec["names"]["plural"].as_str(),
        ) else {
            return;
        };
        let versions = spec["versions"].as_array();
        let version = versions
            .and_then(|vs| {
                vs.iter()
                    .find(|v| v["storage"].as_bool() == Some(true))
                    .or_else(|| vs.iter().next())
            })
            .and_then(|v| v["name"].as_str())
            .unwrap_or("v1");
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        self.known
            .entry((group.to_string(), kind.to_string()))
            .or_insert_with(|| {
                (
                    ResourceRef::new(group, version, kind, plural, namespaced),
                    KindSource::Definition,
                )
            });
    }

    /// The resource for `apiVersion` and `kind`; unknown kinds get
    /// kubectl's guessed plural and are taken as namespaced.
    pub fn resolve(&self, api_version: &str, kind: &str) -> (ResourceRef, KindSource) {
        let (group, version) = match api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", api_version),
        };
        if let Some((resource, source)) = self.known.get(&(group.to_string(), kind.to_string())) {
            // The version the file names, so a generic table describes it.
            let mut resource = resource.clone();
            resource.version = version.to_string();
            return (resource, *source);
        }
        (
            ResourceRef::new(group, version, kind, &guess_plural(kind), true),
            KindSource::Guessed,
        )
    }
}

/// An API version current servers no longer serve, from Kubernetes'
/// deprecation guide: `kubectl apply` of it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removed {
    /// The first minor release that does not serve it.
    pub removed_in: &'static str,
    /// What to write instead.
    pub replacement: &'static str,
}

/// Whether `api_version` `kind` is one of the removed built-in versions.
pub fn removed_version(api_version: &str, kind: &str) -> Option<Removed> {
    let removed = |removed_in, replacement| {
        Some(Removed {
            removed_in,
            replacement,
        })
    };
    match (api_version, kind) {
        ("extensions/v1beta1", "Ingress") => removed("1.22", "networking.k8s.io/v1"),
        ("extensions/v1beta1", "NetworkPolicy") => removed("1.16", "networking.k8s.io/v1"),
        ("extensions/v1beta1", "PodSecurityPolicy") => removed(
            "1.16",
            "Pod Security Admission (PodSecurityPolicy is gone since 1.25)",
        ),
        ("extensions/v1beta1" | "apps/v1beta1" | "apps/v1beta2", _) => removed("1.16", "apps/v1"),
        ("networking.k8s.io/v1beta1", _) => removed("1.22", "networking.k8s.io/v1"),
        ("batch/v1beta1", _) => removed("1.25", "batch/v1"),
        ("policy/v1beta1", "PodSecurityPolicy") => removed("1.25", "Pod Security Admission"),
        ("policy/v1beta1", _) => removed("1.25", "policy/v1"),
        ("autoscaling/v2beta1", _) => removed("1.25", "autoscaling/v2"),
        ("autoscaling/v2beta2", _) => removed("1.26", "autoscaling/v2"),
        ("rbac.authorization.k8s.io/v1beta1", _) => removed("1.22", "rbac.authorization.k8s.io/v1"),
        ("apiextensions.k8s.io/v1beta1", _) => removed("1.22", "apiextensions.k8s.io/v1"),
        ("admissionregistration.k8s.io/v1beta1", _) => {
            removed("1.22", "admissionregistration.k8s.io/v1")
        }
        ("apiregistration.k8s.io/v1beta1", _) => removed("1.22", "apiregistration.k8s.io/v1"),
        ("scheduling.k8s.io/v1beta1", _) => removed("1.22", "scheduling.k8s.io/v1"),
        ("coordination.k8s.io/v1beta1", _) => removed("1.22", "coordination.k8s.io/v1"),
        ("certificates.k8s.io/v1beta1", _) => removed("1.22", "certificates.k8s.io/v1"),
        ("storage.k8s.io/v1beta1", "CSIStorageCapacity") => removed("1.27", "storage.k8s.io/v1"),
        ("storage.k8s.io/v1beta1", _) => removed("1.22", "storage.k8s.io/v1"),
        ("discovery.k8s.io/v1beta1", _) => removed("1.25", "discovery.k8s.io/v1"),
        ("events.k8s.io/v1beta1", _) => removed("1.25", "events.k8s.io/v1"),
        ("node.k8s.io/v1beta1", _) => removed("1.25", "node.k8s.io/v1"),
        ("flowcontrol.apiserver.k8s.io/v1beta1", _) => {
            removed("1.26", "flowcontrol.apiserver.k8s.io/v1")
        }
        ("flowcontrol.apiserver.k8s.io/v1beta2", _) => {
            removed("1.29", "flowcontrol.apiserver.k8s.io/v1")
        }
        _ => None,
    }
}

/// apimachinery's UnsafeGuessKindToResource.
fn guess_plural(kind: &str) -> String {
    let singular = kind.to_lowercase();
    if singular.is_empty() {
        return singular;
    }
    if let Some(stem) = singular.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if singular.ends_with('s')
        || singular.ends_with("ch")
        || singular.ends_with("sh")
        || singular.ends_with('x')
        || singular.ends_with('z')
    {
        return format!("{singular}es");
    }
    format!("{singular}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_know_their_plural_and_scope() {
        let kinds = KindResolver::new(&[]);
        let (deployment, source) = kinds.resolve("apps/v1", "Deployment");
        assert_eq!(source, KindSource::Builtin);
        assert_eq!(deployment.plural, "deployments");
        assert!(deployment.namespaced);
        let (role, _) = kinds.resolve("rbac.authorization.k8s.io/v1", "ClusterRole");
        assert!(!role.namespaced);
        let (quota, _) = kinds.resolve("v1", "ResourceQuota");
        assert_eq!(
            (quota.group.as_str(), quota.plural.as_str()),
            ("", "resourcequotas")
        );
    }

    #[test]
    fn definitions_in_the_manifests_name_custom_kinds() {
        let mut kinds = KindResolver::new(&[]);
        let crd: Value = sonic_rs::from_str(
            r#"{"spec":{"group":"example.com","scope":"Cluster","names":{"kind":"Widget","plural":"widgetry"},"versions":[{"name":"v1alpha1","served":true,"storage":true}]}}"#,
        )
        .unwrap();
        kinds.learn_definition(&crd);
        let (widget, source) = kinds.resolve("example.com/v1alpha1", "Widget");
        assert_eq!(source, KindSource::Definition);
        assert_eq!(widget.plural, "widgetry");
        assert!(!widget.namespaced);
    }

    #[test]
    fn unknown_kinds_are_guessed_like_kubectl() {
        let kinds = KindResolver::new(&[]);
        let (r, source) = kinds.resolve("cert-manager.io/v1", "ClusterIssuer");
        assert_eq!(source, KindSource::Guessed);
        assert_eq!(r.plural, "clusterissuers");
        assert_eq!(guess_plural("Policy"), "policies");
        assert_eq!(guess_plural("Gateway"), "gateways");
        assert_eq!(guess_plural("Ingress"), "ingresses");
    }
}
