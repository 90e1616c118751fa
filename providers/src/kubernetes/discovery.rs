//! API discovery: which resources (CRDs included) each cluster serves.
//!
//! Aggregated discovery (one request for `/api`, one for `/apis`) is asked
//! for first; servers without it get the legacy per-group-version walk.
//! Only the preferred version of each group is used, and only resources
//! that support `list`.

use serde_json::Value;

use super::fetch;
use super::resource::ResourceRef;

const AGGREGATED_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("discovery request {path} failed: {message}")]
    Request { path: String, message: String },
    #[error("discovery document {path} is malformed: {message}")]
    Malformed { path: String, message: String },
}

async fn get_json(
    client: &kube::Client,
    path: &str,
    accept: &str,
) -> Result<Value, DiscoveryError> {
    let failed = |message: String| DiscoveryError::Request {
        path: path.to_string(),
        message,
    };
    let response = fetch::get_with_retries(client, path, accept)
        .await
        .map_err(failed)?;
    if !response.status.is_success() {
        let code = response.status.as_u16();
        return Err(failed(format!(
            "HTTP {code}: {}",
            fetch::status_message(&response.body)
        )));
    }
    let body = response.body;
    serde_json::from_slice(&body).map_err(|e| DiscoveryError::Malformed {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Every listable resource the cluster serves, at its preferred version.
pub async fn discover(client: &kube::Client) -> Result<Vec<ResourceRef>, DiscoveryError> {
    let core = get_json(client, "/api", AGGREGATED_ACCEPT).await?;
    let groups = get_json(client, "/apis", AGGREGATED_ACCEPT).await?;
    if is_aggregated(&core) && is_aggregated(&groups) {
        let mut out = parse_aggregated(&core);
        out.extend(parse_aggregated(&groups));
        return Ok(out);
    }
    legacy(client, &core, &groups).await
}

fn is_aggregated(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("APIGroupDiscoveryList")
}

/// Parses an APIGroupDiscoveryList; the first version listed is preferred.
pub fn parse_aggregated(doc: &Value) -> Vec<ResourceRef> {
    let mut out = Vec::new();
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
            out.push(ResourceRef::new(
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

async fn legacy(
    client: &kube::Client,
    core: &Value,
    groups: &Value,
) -> Result<Vec<ResourceRef>, DiscoveryError> {
    let mut out = Vec::new();
    for version in core
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .take(1)
    {
        let doc = get_json(client, &format!("/api/{version}"), "application/json").await?;
        out.extend(parse_resource_list("", version, &doc));
    }
    for group in groups
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = group.get("name").and_then(Value::as_str) else {
            continue;
        };
        let Some(version) = group
            .pointer("/preferredVersion/version")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let doc = get_json(
            client,
            &format!("/apis/{name}/{version}"),
            "application/json",
        )
        .await?;
        out.extend(parse_resource_list(name, version, &doc));
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
            parse_aggregated(&doc),
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
