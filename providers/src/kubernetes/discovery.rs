//! API discovery: which resources (CRDs included) each cluster serves.
//!
//! Aggregated discovery (one request for `/api`, one for `/apis`) is asked
//! for first; servers without it get the legacy per-group-version walk.
//! Only the preferred version of each group is used, and only resources
//! that support `list`.
//!
//! A broken API group (an aggregated API whose backend is down, as with a
//! failing metrics-server) fails only itself: the legacy walk skips a
//! group version that answers an error, and aggregated discovery reports a
//! version whose `freshness` is `Stale`. Both come back in
//! [`Discovery::unavailable`], named, while every other resource is
//! discovered as usual.

use serde_json::Value;

use super::config::ClusterConn;
use super::error::RequestError;
use super::http;
use super::resource::ResourceRef;

const AGGREGATED_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// What a cluster serves.
#[derive(Debug, Default)]
pub struct Discovery {
    pub resources: Vec<ResourceRef>,
    /// Group versions that could not be discovered (`group/version`, why).
    pub unavailable: Vec<(String, String)>,
}

async fn get_json(cluster: &ClusterConn, path: &str, accept: &str) -> Result<Value, RequestError> {
    let operation = || format!("discovery of {path}");
    let response = http::get(cluster, path, accept).await?;
    if !response.status.is_success() {
        return Err(response.error(cluster, operation()));
    }
    serde_json::from_slice(&response.body).map_err(|e| RequestError::Decode {
        server: cluster.server().to_string(),
        operation: operation(),
        message: e.to_string(),
    })
}

/// Every listable resource the cluster serves, at its preferred version.
/// `Err` only when the cluster's discovery as a whole failed.
pub async fn discover(cluster: &ClusterConn) -> Result<Discovery, RequestError> {
    let core = get_json(cluster, "/api", AGGREGATED_ACCEPT).await?;
    let groups = get_json(cluster, "/apis", AGGREGATED_ACCEPT).await?;
    if is_aggregated(&core) && is_aggregated(&groups) {
        let mut discovery = parse_aggregated(&core);
        let rest = parse_aggregated(&groups);
        discovery.resources.extend(rest.resources);
        discovery.unavailable.extend(rest.unavailable);
        return Ok(discovery);
    }
    legacy(cluster, &core, &groups).await
}

fn is_aggregated(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("APIGroupDiscoveryList")
}

/// Parses an APIGroupDiscoveryList; the first version listed is preferred.
/// A preferred version whose `freshness` is `Stale` (the API server could
/// not reach the group's backend) is reported unavailable; its resources,
/// if any are listed, are kept so their tables say why they fail.
pub fn parse_aggregated(doc: &Value) -> Discovery {
    let mut out = Discovery::default();
    for group in doc
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let group_name = group
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(version) = group
            .get("versions")
            .and_then(Value::as_array)
            .and_then(|v| v.first())
        else {
            continue;
        };
        let version_name = version
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if version.get("freshness").and_then(Value::as_str) == Some("Stale") {
            out.unavailable.push((
                group_version(group_name, version_name),
                "the API server could not reach this API group's backend (its discovery is stale)"
                    .to_string(),
            ));
        }
        for resource in version
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let plural = resource
                .get("resource")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let kind = resource
                .pointer("/responseKind/kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if plural.is_empty() || kind.is_empty() || !can_list(resource) {
                continue;
            }
            let namespaced = resource.get("scope").and_then(Value::as_str) == Some("Namespaced");
            out.resources.push(ResourceRef::new(
                group_name,
                version_name,
                kind,
                plural,
                namespaced,
            ));
        }
    }
    out
}

fn can_list(resource: &Value) -> bool {
    resource
        .get("verbs")
        .and_then(Value::as_array)
        .is_some_and(|verbs| verbs.iter().any(|v| v.as_str() == Some("list")))
}

/// Parses an APIResourceList (`/api/v1`, `/apis/g/v`).
pub fn parse_resource_list(group: &str, version: &str, doc: &Value) -> Vec<ResourceRef> {
    doc.get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let plural = r.get("name").and_then(Value::as_str)?;
            // Subresources (pods/log, deployments/scale) are not lists of objects.
            if plural.contains('/') || !can_list(r) {
                return None;
            }
            let kind = r.get("kind").and_then(Value::as_str)?;
            let namespaced = r
                .get("namespaced")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Some(ResourceRef::new(group, version, kind, plural, namespaced))
        })
        .collect()
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

async fn legacy(
    cluster: &ClusterConn,
    core: &Value,
    groups: &Value,
) -> Result<Discovery, RequestError> {
    let mut out = Discovery::default();
    for version in core
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .take(1)
    {
        // The core group failing is the cluster failing.
        let doc = get_json(cluster, &format!("/api/{version}"), "application/json").await?;
        out.resources.extend(parse_resource_list("", version, &doc));
    }
    let wanted: Vec<(String, String)> = groups
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|group| {
            let name = group.get("name").and_then(Value::as_str)?;
            let version = group
                .pointer("/preferredVersion/version")
                .and_then(Value::as_str)?;
            Some((name.to_string(), version.to_string()))
        })
        .collect();
    // Group documents are independent: ask a few at a time, as kubectl does.
    let fetched: Vec<_> = futures::StreamExt::collect(futures::StreamExt::buffered(
        futures::stream::iter(wanted.into_iter().map(|(name, version)| async move {
            let doc = get_json(
                cluster,
                &format!("/apis/{name}/{version}"),
                "application/json",
            )
            .await;
            (name, version, doc)
        })),
        8,
    ))
    .await;
    for (name, version, doc) in fetched {
        match doc {
            Ok(doc) => out
                .resources
                .extend(parse_resource_list(&name, &version, &doc)),
            // A broken aggregated API (503) fails only its own group.
            Err(error) => out
                .unavailable
                .push((group_version(&name, &version), error.to_string())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aggregated_documents_yield_preferred_listable_resources() {
        let doc = json!({
            "kind": "APIGroupDiscoveryList",
            "items": [{
                "metadata": {"name": "cert-manager.io"},
                "versions": [
                    {"version": "v1", "resources": [
                        {"resource": "certificates", "responseKind": {"kind": "Certificate"}, "scope": "Namespaced", "verbs": ["get", "list", "watch"]},
                        {"resource": "tokenreviews", "responseKind": {"kind": "TokenReview"}, "scope": "Cluster", "verbs": ["create"]}
                    ]},
                    {"version": "v1alpha2", "resources": [
                        {"resource": "certificates", "responseKind": {"kind": "Certificate"}, "scope": "Namespaced", "verbs": ["list"]}
                    ]}
                ]
            }]
        });
        assert_eq!(
            parse_aggregated(&doc).resources,
            vec![ResourceRef::new(
                "cert-manager.io",
                "v1",
                "Certificate",
                "certificates",
                true
            )]
        );
    }

    #[test]
    fn legacy_lists_skip_subresources() {
        let doc = json!({"resources": [
            {"name": "pods", "kind": "Pod", "namespaced": true, "verbs": ["list"]},
            {"name": "pods/log", "kind": "Pod", "namespaced": true, "verbs": ["get"]},
            {"name": "nodes", "kind": "Node", "namespaced": false, "verbs": ["list", "get"]}
        ]});
        let parsed = parse_resource_list("", "v1", &doc);
        assert_eq!(parsed.len(), 2);
        assert!(!parsed[1].namespaced);
    }
}
