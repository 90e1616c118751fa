//! Discovery documents: `/version`, legacy discovery (`/api`, `/apis`, …),
//! aggregated discovery (apidiscovery.k8s.io/v2 and v2beta1) and the
//! minimal OpenAPI v3 documents kubectl needs to validate `apply`.
//!
//! kubectl's client-side validation asks OpenAPI v3 whether the PATCH
//! operation of the object's kind accepts the `fieldValidation` query
//! parameter; if so it leaves validation to the server. So each
//! group/version document lists one PATCH path per resource carrying the
//! kind's `x-kubernetes-group-version-kind` and that parameter, nothing more.

use serde_json::{Value, json};

use crate::registry::{Registry, ResourceType};
use crate::version::ServerVersion;

/// `/version`, for the release the cluster claims to be.
pub(crate) fn version(v: ServerVersion) -> Value {
    json!({
        "major": v.major().to_string(),
        "minor": v.minor().to_string(),
        "gitVersion": v.git_version(),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

pub(crate) fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

fn legacy_resource(t: &ResourceType) -> Value {
    let mut r = json!({
        "name": t.plural,
        "singularName": t.singular,
        "namespaced": t.namespaced,
        "kind": t.kind,
        "verbs": t.verbs,
    });
    if let Some(o) = r.as_object_mut() {
        if !t.short_names.is_empty() {
            o.insert("shortNames".into(), json!(t.short_names));
        }
        if !t.categories.is_empty() {
            o.insert("categories".into(), json!(t.categories));
        }
    }
    r
}

pub(crate) fn api_resource_list(registry: &Registry, group: &str, version: &str) -> Value {
    let resources: Vec<Value> = registry
        .in_group_version(group, version)
        .map(legacy_resource)
        .collect();
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    })
}

fn api_group(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(json!({}));
    json!({"name": group, "versions": vs, "preferredVersion": preferred})
}

pub(crate) fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| api_group(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub(crate) fn api_group_doc(registry: &Registry, group: &str) -> Option<Value> {
    registry
        .groups()
        .iter()
        .find(|(g, _)| g == group && !g.is_empty())
        .map(|(g, vs)| {
            let mut doc = api_group(g, vs);
            if let Some(o) = doc.as_object_mut() {
                o.insert("kind".into(), json!("APIGroup"));
                o.insert("apiVersion".into(), json!("v1"));
            }
            doc
        })
}

/// `group/version` pairs of unavailable APIServices, split.
fn split_group_versions(group_versions: &[String]) -> Vec<(&str, &str)> {
    group_versions
        .iter()
        .filter_map(|gv| gv.split_once('/'))
        .collect()
}

/// Lists unavailable APIService groups in `/apis` (legacy), as the real
/// server does: the aggregator lists a group whatever its backend's health.
pub(crate) fn add_listed_groups(doc: &mut Value, unavailable: &[String]) {
    let Some(groups) = doc.get_mut("groups").and_then(Value::as_array_mut) else {
        return;
    };
    for (group, version) in split_group_versions(unavailable) {
        if !groups.iter().any(|g| g["name"] == group) {
            groups.push(api_group(group, &[version.to_string()]));
        }
    }
}

/// `/apis/<group>` of an unavailable APIService: still answered.
pub(crate) fn unavailable_group_doc(unavailable: &[String], group: &str) -> Option<Value> {
    let (group, version) = split_group_versions(unavailable)
        .into_iter()
        .find(|(g, _)| *g == group)?;
    let mut doc = api_group(group, &[version.to_string()]);
    if let Some(o) = doc.as_object_mut() {
        o.insert("kind".into(), json!("APIGroup"));
        o.insert("apiVersion".into(), json!("v1"));
    }
    Some(doc)
}

/// Aggregated discovery of an unavailable APIService: the version is
/// listed as `Stale`, with no resources (what the real server answers
/// while the backend has never been reachable).
pub(crate) fn add_stale_groups(doc: &mut Value, unavailable: &[String]) {
    let Some(items) = doc.get_mut("items").and_then(Value::as_array_mut) else {
        return;
    };
    for (group, version) in split_group_versions(unavailable) {
        if !items.iter().any(|i| i["metadata"]["name"] == group) {
            items.push(json!({
                "metadata": {"name": group, "creationTimestamp": null},
                "versions": [{"version": version, "freshness": "Stale"}],
            }));
        }
    }
}

fn aggregated_resource(t: &ResourceType) -> Value {
    let mut r = json!({
        "resource": t.plural,
        "responseKind": {"group": t.group, "version": t.version, "kind": t.kind},
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular,
        "verbs": t.verbs,
    });
    if let Some(o) = r.as_object_mut() {
        if !t.short_names.is_empty() {
            o.insert("shortNames".into(), json!(t.short_names));
        }
        if !t.categories.is_empty() {
            o.insert("categories".into(), json!(t.categories));
        }
    }
    r
}

/// The aggregated discovery document for `/api` (core only) or `/apis` (all other groups).
pub(crate) fn aggregated(registry: &Registry, core: bool, discovery_version: &str) -> Value {
    let items: Vec<Value> = registry
        .groups()
        .iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = registry
                        .in_group_version(g, v)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{discovery_version}"),
        "metadata": {},
        "items": items,
    })
}

/// A cheap content hash, so kubectl's cache notices CRD changes.
fn fnv(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

fn openapi_path_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one entry per served group/version.
pub(crate) fn openapi_v3_index(registry: &Registry, release: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, vs) in registry.groups() {
        for v in vs {
            let doc = openapi_v3_doc(registry, &g, &v, release);
            let hash = fnv(doc.to_string().as_bytes());
            let key = openapi_path_key(&g, &v);
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1`, `/openapi/v3/apis/{g}/{v}`.
pub(crate) fn openapi_v3_doc(
    registry: &Registry,
    group: &str,
    version: &str,
    release: &str,
) -> Value {
    let mut paths = serde_json::Map::new();
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    for t in registry.in_group_version(group, version) {
        let path = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{prefix}/{}/{{name}}", t.plural)
        };
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        paths.insert(
            path,
            json!({
                "patch": {
                    "operationId": format!("patch{}", t.kind),
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": [
                        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
                    ],
                    "responses": {"200": {"description": "OK"}}
                }
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": release},
        "paths": paths,
        "components": {"schemas": {}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_follows_the_release() {
        let v = version("1.27".parse().unwrap());
        assert_eq!(
            (v["major"].as_str(), v["minor"].as_str()),
            (Some("1"), Some("27"))
        );
        assert_eq!(v["gitVersion"], "v1.27.16");
    }

    #[test]
    fn aggregated_splits_core_and_groups() {
        let r = Registry::builtins();
        let core = aggregated(&r, true, "v2");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        assert_eq!(core["items"][0]["metadata"]["name"], "");
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap();
        assert_eq!(pods["shortNames"][0], "po");
        assert_eq!(pods["scope"], "Namespaced");
        let groups = aggregated(&r, false, "v2");
        assert!(
            groups["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["metadata"]["name"] == "apps")
        );
    }

    #[test]
    fn openapi_index_points_at_every_group_version() {
        let r = Registry::builtins();
        let idx = openapi_v3_index(&r, "v1.33.1");
        assert!(
            idx["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/api/v1?hash=")
        );
        let doc = openapi_v3_doc(&r, "apps", "v1", "v1.33.1");
        let p = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(p["x-kubernetes-group-version-kind"]["kind"], "Deployment");
    }

    #[test]
    fn legacy_lists() {
        let r = Registry::builtins();
        let l = api_resource_list(&r, "", "v1");
        assert_eq!(l["groupVersion"], "v1");
        let g = api_group_list(&r);
        assert!(
            g["groups"]
                .as_array()
                .unwrap()
                .iter()
                .all(|g| g["name"] != "")
        );
        assert!(api_group_doc(&r, "apps").is_some());
        assert!(api_group_doc(&r, "nope").is_none());
    }
}
