//! GKE: clusters and their node pools, from one `clusters.list` per
//! project (node pools come embedded in each cluster).
//!
//! `location` is a region for regional clusters and a zone for zonal
//! ones; a query pinning it lists those locations alone.

use std::borrow::Cow;
use std::sync::Arc;

use futures::future::BoxFuture;
use google_cloud_container_v1::model::{Cluster, NodePool};

use super::{enum_name, labels, list, region_of_zone, text};
use crate::cloud::{Col, col};
use crate::failures::FailureKind;
use crate::gcp::table::{CallError, Fetched, Request, Spec, Target, gax_error};
use crate::kubernetes::tables::model::{Cell, ColType::*};

/// Every cluster of the project (or of the pinned locations), by
/// location and name; zones the API could not reach are a warning.
async fn list_clusters(
    target: &Target<'_>,
    request: &Request,
) -> Result<Fetched<Cluster>, CallError> {
    let locations: Vec<String> = match request.pinned("location") {
        Some(pinned) => pinned.to_vec(),
        None => vec!["-".to_string()],
    };
    let mut clusters = Vec::new();
    let mut missing = Vec::new();
    for location in locations {
        let answer = target
            .clients
            .clusters
            .list_clusters()
            .set_parent(format!("projects/{}/locations/{location}", target.scope))
            .send()
            .await
            .map_err(|e| gax_error("clusters.list", e));
        match answer {
            Ok(answer) => {
                clusters.extend(answer.clusters);
                missing.extend(answer.missing_zones);
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    clusters.sort_by(|a, b| (&a.location, &a.name).cmp(&(&b.location, &b.name)));
    let warnings = if missing.is_empty() {
        Vec::new()
    } else {
        vec![CallError::new(
            "clusters.list",
            Some("UNREACHABLE".to_string()),
            format!(
                "GKE could not reach {}; clusters there are missing",
                missing.join(", ")
            ),
            FailureKind::Unreachable,
        )]
    };
    Ok(Fetched {
        items: clusters,
        warnings,
    })
}

fn fetch_clusters<'a>(
    target: &'a Target<'a>,
    request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<Cluster>, CallError>> {
    Box::pin(list_clusters(target, request))
}

/// The region of a location (a region already, or a zone).
fn region_of_location(location: &str) -> &str {
    // Zones end in a one-letter suffix (`-a`); regions in a digit.
    if location
        .rsplit('-')
        .next()
        .is_some_and(|s| s.len() == 1 && s.chars().all(|c| c.is_ascii_lowercase()))
    {
        region_of_zone(location)
    } else {
        location
    }
}

/// Whether the control plane answers on a public address: unless the
/// cluster is private with the private endpoint only, or (newer API)
/// its IP endpoints config turns the public one off.
// GKE deprecated `privateClusterConfig`, `masterAuthorizedNetworksConfig`
// and `currentNodeCount` in favour of newer fields, yet still serves them,
// and clusters made before the change have only them.
#[allow(deprecated)]
fn public_endpoint(c: &Cluster) -> bool {
    let private_only = c
        .private_cluster_config
        .as_ref()
        .is_some_and(|p| p.enable_private_endpoint);
    let public_off = c
        .control_plane_endpoints_config
        .as_ref()
        .and_then(|e| e.ip_endpoints_config.as_ref())
        .and_then(|ip| ip.enable_public_endpoint)
        == Some(false);
    !private_only && !public_off
}

#[allow(deprecated)]
pub(crate) fn clusters() -> Spec<Cluster> {
    let columns: Vec<Col<Cluster>> = vec![
        col(
            "location",
            Utf8,
            "Region (regional cluster) or zone (zonal cluster)",
            |c| text(&c.location),
        ),
        col("region", Utf8, "Region of that location", |c| {
            text(region_of_location(&c.location))
        }),
        col("name", Utf8, "Cluster name", |c| text(&c.name)),
        col(
            "status",
            Utf8,
            "RUNNING, PROVISIONING, DEGRADED, …",
            |c| enum_name!(Some(&c.status)),
        ),
        col(
            "master_version",
            Utf8,
            "Control plane Kubernetes version",
            |c| text(&c.current_master_version),
        ),
        col("endpoint", Utf8, "Control plane address", |c| {
            text(&c.endpoint)
        }),
        col(
            "public_endpoint",
            Boolean,
            "Whether the control plane answers on a public address",
            |c| Cell::bool(Some(public_endpoint(c))),
        ),
        col(
            "private_nodes",
            Boolean,
            "Whether nodes have internal addresses only",
            |c| {
                Cell::bool(Some(
                    c.private_cluster_config
                        .as_ref()
                        .is_some_and(|p| p.enable_private_nodes),
                ))
            },
        ),
        col(
            "master_authorized_networks_enabled",
            Boolean,
            "Whether only listed networks may reach the control plane",
            |c| {
                Cell::bool(Some(
                    c.master_authorized_networks_config
                        .as_ref()
                        .is_some_and(|m| m.enabled),
                ))
            },
        ),
        col(
            "master_authorized_networks",
            List,
            "The CIDR blocks that may",
            |c| {
                Cell::List(
                    c.master_authorized_networks_config
                        .iter()
                        .flat_map(|m| &m.cidr_blocks)
                        .map(|b| Cow::Borrowed(b.cidr_block.as_str()))
                        .collect(),
                )
            },
        ),
        col(
            "workload_pool",
            Utf8,
            "Workload identity pool (PROJECT.svc.id.goog); NULL: workload identity is off",
            |c| {
                text(
                    c.workload_identity_config
                        .as_ref()
                        .map_or("", |w| &w.workload_pool),
                )
            },
        ),
        col(
            "release_channel",
            Utf8,
            "RAPID, REGULAR, STABLE, EXTENDED; NULL: none",
            |c| enum_name!(c.release_channel.as_ref().map(|r| &r.channel)),
        ),
        col(
            "network_policy_enabled",
            Boolean,
            "Whether NetworkPolicy is enforced (Calico)",
            |c| {
                let calico = c.network_policy.as_ref().is_some_and(|n| n.enabled);
                // Dataplane V2 enforces NetworkPolicy without the addon.
                let dataplane_v2 = c
                    .network_config
                    .as_ref()
                    .and_then(|n| n.datapath_provider.name())
                    == Some("ADVANCED_DATAPATH");
                Cell::bool(Some(calico || dataplane_v2))
            },
        ),
        col(
            "legacy_abac",
            Boolean,
            "Whether legacy ABAC authorization is on",
            |c| Cell::bool(Some(c.legacy_abac.as_ref().is_some_and(|a| a.enabled))),
        ),
        col(
            "shielded_nodes",
            Boolean,
            "Whether nodes must be Shielded VMs",
            |c| Cell::bool(Some(c.shielded_nodes.as_ref().is_some_and(|s| s.enabled))),
        ),
        col("network", Utf8, "VPC network", |c| text(&c.network)),
        col("subnetwork", Utf8, "VPC subnetwork", |c| {
            text(&c.subnetwork)
        }),
        col("node_pools", List, "Names of its node pools", |c| {
            Cell::List(
                c.node_pools
                    .iter()
                    .map(|p| Cow::Borrowed(p.name.as_str()))
                    .collect(),
            )
        }),
        col("current_node_count", Int64, "Nodes in every pool", |c| {
            Cell::int(Some(i64::from(c.current_node_count)))
        }),
        col("labels", Map, "Resource labels", |c| {
            labels(&c.resource_labels)
        }),
        col("created", Timestamp, "When the cluster was created", |c| {
            text(&c.create_time)
        }),
        col("self_link", Utf8, "Full resource URL", |c| {
            text(&c.self_link)
        }),
    ];
    Spec {
        name: "gke_clusters",
        description: "GKE clusters, one row per cluster",
        columns,
        narrowing: &["location"],
        fetch: fetch_clusters,
    }
}

/// One node pool with the cluster it belongs to.
pub(crate) struct Pool {
    cluster: Arc<Cluster>,
    pool: NodePool,
}

fn fetch_node_pools<'a>(
    target: &'a Target<'a>,
    request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<Pool>, CallError>> {
    Box::pin(async move {
        let fetched = list_clusters(target, request).await?;
        let mut items = Vec::new();
        for mut cluster in fetched.items {
            let pools = std::mem::take(&mut cluster.node_pools);
            let cluster = Arc::new(cluster);
            items.extend(pools.into_iter().map(|pool| Pool {
                cluster: cluster.clone(),
                pool,
            }));
        }
        Ok(Fetched {
            items,
            warnings: fetched.warnings,
        })
    })
}

pub(crate) fn node_pools() -> Spec<Pool> {
    let columns: Vec<Col<Pool>> = vec![
        col("location", Utf8, "Location of the cluster", |p| {
            text(&p.cluster.location)
        }),
        col("region", Utf8, "Region of that location", |p| {
            text(region_of_location(&p.cluster.location))
        }),
        col("cluster", Utf8, "Cluster name", |p| text(&p.cluster.name)),
        col("name", Utf8, "Node pool name", |p| text(&p.pool.name)),
        col("status", Utf8, "RUNNING, RECONCILING, ERROR, …", |p| {
            enum_name!(Some(&p.pool.status))
        }),
        col("version", Utf8, "Kubernetes version of its nodes", |p| {
            text(&p.pool.version)
        }),
        col("machine_type", Utf8, "Machine type of its nodes", |p| {
            text(p.pool.config.as_ref().map_or("", |c| &c.machine_type))
        }),
        col("disk_size_gb", Int64, "Boot disk size", |p| {
            Cell::int(p.pool.config.as_ref().map(|c| i64::from(c.disk_size_gb)))
        }),
        col(
            "image_type",
            Utf8,
            "Node image (COS_CONTAINERD, UBUNTU_CONTAINERD, …)",
            |p| text(p.pool.config.as_ref().map_or("", |c| &c.image_type)),
        ),
        col(
            "service_account",
            Utf8,
            "Service account the nodes run as (`default`: the Compute Engine default account)",
            |p| text(p.pool.config.as_ref().map_or("", |c| &c.service_account)),
        ),
        col("oauth_scopes", List, "OAuth scopes of the nodes", |p| {
            list(p.pool.config.iter().flat_map(|c| &c.oauth_scopes))
        }),
        col(
            "auto_upgrade",
            Boolean,
            "Whether GKE upgrades the nodes",
            |p| {
                Cell::bool(Some(
                    p.pool.management.as_ref().is_some_and(|m| m.auto_upgrade),
                ))
            },
        ),
        col(
            "auto_repair",
            Boolean,
            "Whether GKE repairs unhealthy nodes",
            |p| {
                Cell::bool(Some(
                    p.pool.management.as_ref().is_some_and(|m| m.auto_repair),
                ))
            },
        ),
        col(
            "secure_boot",
            Boolean,
            "Shielded VM secure boot on the nodes",
            |p| {
                Cell::bool(Some(
                    p.pool
                        .config
                        .as_ref()
                        .and_then(|c| c.shielded_instance_config.as_ref())
                        .is_some_and(|s| s.enable_secure_boot),
                ))
            },
        ),
        col(
            "integrity_monitoring",
            Boolean,
            "Shielded VM integrity monitoring",
            |p| {
                Cell::bool(Some(
                    p.pool
                        .config
                        .as_ref()
                        .and_then(|c| c.shielded_instance_config.as_ref())
                        .is_some_and(|s| s.enable_integrity_monitoring),
                ))
            },
        ),
        col(
            "workload_metadata_mode",
            Utf8,
            "GKE_METADATA (the metadata server hides node credentials) or GCE_METADATA",
            |p| {
                enum_name!(
                    p.pool
                        .config
                        .as_ref()
                        .and_then(|c| c.workload_metadata_config.as_ref())
                        .map(|w| &w.mode)
                )
            },
        ),
        col(
            "autoscaling",
            Boolean,
            "Whether the cluster autoscaler sizes it",
            |p| Cell::bool(Some(p.pool.autoscaling.as_ref().is_some_and(|a| a.enabled))),
        ),
        col(
            "min_node_count",
            Int64,
            "Autoscaler minimum per zone",
            |p| {
                Cell::int(
                    p.pool
                        .autoscaling
                        .as_ref()
                        .filter(|a| a.enabled)
                        .map(|a| i64::from(a.min_node_count)),
                )
            },
        ),
        col(
            "max_node_count",
            Int64,
            "Autoscaler maximum per zone",
            |p| {
                Cell::int(
                    p.pool
                        .autoscaling
                        .as_ref()
                        .filter(|a| a.enabled)
                        .map(|a| i64::from(a.max_node_count)),
                )
            },
        ),
        col(
            "initial_node_count",
            Int64,
            "Nodes per zone at creation",
            |p| Cell::int(Some(i64::from(p.pool.initial_node_count))),
        ),
        col("locations", List, "Zones of its nodes", |p| {
            list(&p.pool.locations)
        }),
        col("network_tags", List, "Network tags of its nodes", |p| {
            list(p.pool.config.iter().flat_map(|c| &c.tags))
        }),
    ];
    Spec {
        name: "gke_node_pools",
        description: "GKE node pools, one row per pool",
        columns,
        narrowing: &["location"],
        fetch: fetch_node_pools,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_regions_or_zones() {
        assert_eq!(region_of_location("us-central1"), "us-central1");
        assert_eq!(region_of_location("europe-west1-b"), "europe-west1");
    }
}
