//! Microsoft.ContainerService: AKS clusters and their agent pools (from
//! one list per subscription; pools come embedded in each cluster).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::{
    arm_columns, at, flag, flag_or_false, int, list_all, listed, resource_group, strings, tags,
    text,
};
use crate::azure::table::{CallError, Fetched, Request, Spec, Target};
use crate::cloud::{Col, col};
use crate::kubernetes::tables::model::{Cell, ColType::*};

const AKS_API: &str = "2024-09-01";

fn private(v: &Value) -> bool {
    at(
        v,
        &[
            "properties",
            "apiServerAccessProfile",
            "enablePrivateCluster",
        ],
    )
    .and_then(Value::as_bool)
    .unwrap_or(false)
}

fn authorized_ranges(v: &Value) -> usize {
    at(
        v,
        &["properties", "apiServerAccessProfile", "authorizedIPRanges"],
    )
    .and_then(Value::as_array)
    .map_or(0, Vec::len)
}

pub(crate) fn clusters() -> Spec<Value> {
    let mut columns: Vec<Col<Value>> = arm_columns!("Cluster");
    columns.extend([
        col("kubernetes_version", Utf8, "Control plane version", |v| {
            text(v, &["properties", "kubernetesVersion"])
        }),
        col("fqdn", Utf8, "API server address", |v| {
            Cell::str(
                at(v, &["properties", "fqdn"])
                    .or_else(|| at(v, &["properties", "privateFQDN"]))
                    .and_then(Value::as_str),
            )
        }),
        col(
            "private_cluster",
            Boolean,
            "Whether the API server has a private address only",
            |v| Cell::bool(Some(private(v))),
        ),
        col(
            "authorized_ip_ranges",
            List,
            "Ranges allowed to reach a public API server (empty: anyone)",
            |v| {
                strings(
                    v,
                    &["properties", "apiServerAccessProfile", "authorizedIPRanges"],
                )
            },
        ),
        col(
            "open_api_server",
            Boolean,
            "Whether anyone on the internet can reach the API server: public, no authorized ranges",
            |v| Cell::bool(Some(!private(v) && authorized_ranges(v) == 0)),
        ),
        col("rbac_enabled", Boolean, "Kubernetes RBAC", |v| {
            flag(v, &["properties", "enableRBAC"])
        }),
        col("aad_managed", Boolean, "Entra ID (AAD) integration", |v| {
            flag_or_false(v, &["properties", "aadProfile", "managed"])
        }),
        col(
            "azure_rbac",
            Boolean,
            "Azure RBAC for Kubernetes authorization",
            |v| flag_or_false(v, &["properties", "aadProfile", "enableAzureRBAC"]),
        ),
        col(
            "local_accounts_disabled",
            Boolean,
            "Whether the static admin kubeconfig is disabled",
            |v| flag_or_false(v, &["properties", "disableLocalAccounts"]),
        ),
        col("network_plugin", Utf8, "azure, kubenet, none", |v| {
            text(v, &["properties", "networkProfile", "networkPlugin"])
        }),
        col(
            "network_policy",
            Utf8,
            "calico, azure, cilium; NULL: NetworkPolicy is not enforced",
            |v| text(v, &["properties", "networkProfile", "networkPolicy"]),
        ),
        col(
            "workload_identity",
            Boolean,
            "Whether workload identity is on",
            |v| {
                flag_or_false(
                    v,
                    &[
                        "properties",
                        "securityProfile",
                        "workloadIdentity",
                        "enabled",
                    ],
                )
            },
        ),
        col(
            "oidc_issuer",
            Boolean,
            "Whether the OIDC issuer is on",
            |v| flag_or_false(v, &["properties", "oidcIssuerProfile", "enabled"]),
        ),
        col(
            "node_resource_group",
            Utf8,
            "The MC_ group holding its nodes",
            |v| text(v, &["properties", "nodeResourceGroup"]),
        ),
        col("agent_pools", List, "Names of its agent pools", |v| {
            Cell::List(
                at(v, &["properties", "agentPoolProfiles"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        p.get("name")
                            .and_then(Value::as_str)
                            .map(std::borrow::Cow::Borrowed)
                    })
                    .collect(),
            )
        }),
        col("tags", Map, "Tags", tags),
    ]);
    Spec {
        name: "aks_clusters",
        description: "AKS clusters, one row per cluster",
        columns,
        narrowing: &[],
        fetch: listed!(
            "managedClusters.list",
            "Microsoft.ContainerService/managedClusters",
            "2024-09-01"
        ),
    }
}

/// One agent pool with the cluster it belongs to.
pub(crate) struct Pool {
    cluster: Arc<Value>,
    pool: Value,
}

fn fetch_pools<'a>(
    target: &'a Target<'a>,
    _request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<Pool>, CallError>> {
    Box::pin(async move {
        let clusters = list_all(
            target,
            "managedClusters.list",
            "Microsoft.ContainerService/managedClusters",
            AKS_API,
        )
        .await?;
        let mut pools = Vec::new();
        for cluster in clusters {
            let cluster = Arc::new(cluster);
            for pool in at(&cluster, &["properties", "agentPoolProfiles"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                pools.push(Pool {
                    cluster: cluster.clone(),
                    pool: pool.clone(),
                });
            }
        }
        Ok(Fetched::from(pools))
    })
}

pub(crate) fn agent_pools() -> Spec<Pool> {
    let columns: Vec<Col<Pool>> = vec![
        col(
            "resource_group",
            Utf8,
            "Resource group of the cluster",
            |p| resource_group(&p.cluster),
        ),
        col("location", Utf8, "Azure region", |p| {
            text(&p.cluster, &["location"])
        }),
        col("cluster", Utf8, "Cluster name", |p| {
            text(&p.cluster, &["name"])
        }),
        col("name", Utf8, "Agent pool name", |p| {
            text(&p.pool, &["name"])
        }),
        col("mode", Utf8, "System or User", |p| text(&p.pool, &["mode"])),
        col("count", Int64, "Nodes", |p| int(&p.pool, &["count"])),
        col("vm_size", Utf8, "Node size", |p| text(&p.pool, &["vmSize"])),
        col("os_type", Utf8, "Linux or Windows", |p| {
            text(&p.pool, &["osType"])
        }),
        col(
            "orchestrator_version",
            Utf8,
            "Kubernetes version of its nodes",
            |p| text(&p.pool, &["orchestratorVersion"]),
        ),
        col(
            "node_public_ip",
            Boolean,
            "Whether each node gets a public IP",
            |p| flag_or_false(&p.pool, &["enableNodePublicIP"]),
        ),
        col(
            "autoscaling",
            Boolean,
            "Whether the cluster autoscaler sizes it",
            |p| flag_or_false(&p.pool, &["enableAutoScaling"]),
        ),
        col("zones", List, "Availability zones", |p| {
            strings(&p.pool, &["availabilityZones"])
        }),
    ];
    Spec {
        name: "aks_agent_pools",
        description: "AKS agent (node) pools, one row per pool",
        columns,
        narrowing: &[],
        fetch: fetch_pools,
    }
}
