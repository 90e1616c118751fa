//! EKS tables: clusters and their managed node groups.

use std::collections::HashMap;

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{Cluster, Nodegroup};

use super::{describe_each, int, list, name_of, pairs, ts};
use crate::aws::table::{CallError, Col, Request, Scope, Spec, col, empty_if_not_found};
use crate::kubernetes::tables::model::{Cell, ColType::*};

fn map(m: Option<&HashMap<String, String>>) -> Cell<'_> {
    pairs(
        m.into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    )
}

/// Cluster names: the ones the query pins, else every cluster of the region.
async fn cluster_names(
    client: &Client,
    request: &Request,
    column: &str,
) -> Result<Vec<String>, CallError> {
    if let Some(names) = request.ids(column) {
        return Ok(names.to_vec());
    }
    client
        .list_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::from_sdk("eks ListClusters", e))
}

pub(crate) fn clusters() -> Spec<Cluster> {
    let columns: Vec<Col<Cluster>> = vec![
        col("name", Utf8, "Cluster name", |c| Cell::str(c.name())),
        col("arn", Utf8, "Cluster ARN", |c| Cell::str(c.arn())),
        col("version", Utf8, "Kubernetes version (1.31, …)", |c| {
            Cell::str(c.version())
        }),
        col("platform_version", Utf8, "EKS platform version", |c| {
            Cell::str(c.platform_version())
        }),
        col(
            "status",
            Utf8,
            "CREATING, ACTIVE, UPDATING, DELETING or FAILED",
            |c| name_of(c.status()),
        ),
        col("endpoint", Utf8, "API server endpoint URL", |c| {
            Cell::str(c.endpoint())
        }),
        col(
            "endpoint_public_access",
            Boolean,
            "The API server endpoint is reachable from the internet",
            |c| Cell::bool(c.resources_vpc_config().map(|v| v.endpoint_public_access())),
        ),
        col(
            "endpoint_private_access",
            Boolean,
            "The API server endpoint is reachable from the VPC",
            |c| {
                Cell::bool(
                    c.resources_vpc_config()
                        .map(|v| v.endpoint_private_access()),
                )
            },
        ),
        col(
            "public_access_cidrs",
            List,
            "CIDRs allowed to reach the public endpoint",
            |c| {
                list(
                    c.resources_vpc_config()
                        .into_iter()
                        .flat_map(|v| v.public_access_cidrs().iter().map(String::as_str)),
                )
            },
        ),
        col("vpc_id", Utf8, "VPC id", |c| {
            Cell::str(c.resources_vpc_config().and_then(|v| v.vpc_id()))
        }),
        col(
            "subnet_ids",
            List,
            "Subnets of the control plane's network interfaces",
            |c| {
                list(
                    c.resources_vpc_config()
                        .into_iter()
                        .flat_map(|v| v.subnet_ids().iter().map(String::as_str)),
                )
            },
        ),
        col(
            "security_group_ids",
            List,
            "Additional security groups of the control plane",
            |c| {
                list(
                    c.resources_vpc_config()
                        .into_iter()
                        .flat_map(|v| v.security_group_ids().iter().map(String::as_str)),
                )
            },
        ),
        col(
            "cluster_security_group_id",
            Utf8,
            "The cluster security group EKS created",
            |c| {
                Cell::str(
                    c.resources_vpc_config()
                        .and_then(|v| v.cluster_security_group_id()),
                )
            },
        ),
        col("role_arn", Utf8, "IAM role of the control plane", |c| {
            Cell::str(c.role_arn())
        }),
        col(
            "enabled_log_types",
            List,
            "Control plane log types sent to CloudWatch (api, audit, authenticator, controllerManager, scheduler)",
            |c| {
                list(
                    c.logging()
                        .into_iter()
                        .flat_map(|l| l.cluster_logging())
                        .filter(|setup| setup.enabled() == Some(true))
                        .flat_map(|setup| setup.types().iter().map(|t| t.as_str())),
                )
            },
        ),
        col(
            "secrets_encrypted",
            Boolean,
            "Kubernetes Secrets are envelope-encrypted with a KMS key",
            |c| Cell::Bool(!c.encryption_config().is_empty()),
        ),
        col(
            "oidc_issuer",
            Utf8,
            "OIDC issuer URL (IAM roles for service accounts)",
            |c| Cell::str(c.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer())),
        ),
        col("created", Timestamp, "When the cluster was created", |c| {
            ts(c.created_at())
        }),
        col("tags", Map, "Tags; `tags['team']`", |c| map(c.tags())),
    ];
    Spec {
        name: "eks_clusters",
        description: "EKS clusters",
        scope: Scope::Regional,
        columns,
        id_columns: &["name"],
        fetch: |target, request| {
            Box::pin(async move {
                let client = Client::new(&target.config);
                let names = cluster_names(&client, request, "name").await?;
                let items = describe_each(names, |name| {
                    let client = client.clone();
                    async move {
                        let output = client
                            .describe_cluster()
                            .name(name)
                            .send()
                            .await
                            .map_err(|e| CallError::from_sdk("eks DescribeCluster", e))?;
                        Ok(output.cluster().cloned())
                    }
                })
                .await?;
                Ok(items.into())
            })
        },
        region_of: None,
    }
}

pub(crate) fn nodegroups() -> Spec<Nodegroup> {
    let columns: Vec<Col<Nodegroup>> = vec![
        col("cluster_name", Utf8, "EKS cluster", |n| {
            Cell::str(n.cluster_name())
        }),
        col("nodegroup_name", Utf8, "Node group name", |n| {
            Cell::str(n.nodegroup_name())
        }),
        col("arn", Utf8, "Node group ARN", |n| {
            Cell::str(n.nodegroup_arn())
        }),
        col(
            "status",
            Utf8,
            "CREATING, ACTIVE, UPDATING, DEGRADED, …",
            |n| name_of(n.status()),
        ),
        col("version", Utf8, "Kubernetes version of the nodes", |n| {
            Cell::str(n.version())
        }),
        col("release_version", Utf8, "AMI release version", |n| {
            Cell::str(n.release_version())
        }),
        col(
            "ami_type",
            Utf8,
            "AMI type (AL2023_x86_64_STANDARD, BOTTLEROCKET_ARM_64, …)",
            |n| name_of(n.ami_type()),
        ),
        col(
            "capacity_type",
            Utf8,
            "ON_DEMAND, SPOT or CAPACITY_BLOCK",
            |n| name_of(n.capacity_type()),
        ),
        col("instance_types", List, "Instance types", |n| {
            list(n.instance_types().iter().map(String::as_str))
        }),
        col("desired_size", Int64, "Desired node count", |n| {
            int(n.scaling_config().and_then(|s| s.desired_size()))
        }),
        col("min_size", Int64, "Minimum node count", |n| {
            int(n.scaling_config().and_then(|s| s.min_size()))
        }),
        col("max_size", Int64, "Maximum node count", |n| {
            int(n.scaling_config().and_then(|s| s.max_size()))
        }),
        col("subnet_ids", List, "Subnets of the nodes", |n| {
            list(n.subnets().iter().map(String::as_str))
        }),
        col("node_role_arn", Utf8, "IAM role of the nodes", |n| {
            Cell::str(n.node_role())
        }),
        col(
            "remote_access_key",
            Utf8,
            "EC2 key pair allowed to SSH to the nodes, if any",
            |n| Cell::str(n.remote_access().and_then(|r| r.ec2_ssh_key())),
        ),
        col(
            "autoscaling_group_names",
            List,
            "Auto Scaling groups behind the node group",
            |n| {
                list(
                    n.resources()
                        .into_iter()
                        .flat_map(|r| r.auto_scaling_groups().iter().filter_map(|g| g.name())),
                )
            },
        ),
        col("labels", Map, "Kubernetes labels the nodes get", |n| {
            map(n.labels())
        }),
        col(
            "created",
            Timestamp,
            "When the node group was created",
            |n| ts(n.created_at()),
        ),
        col("tags", Map, "Tags; `tags['team']`", |n| map(n.tags())),
    ];
    Spec {
        name: "eks_nodegroups",
        description: "EKS managed node groups",
        scope: Scope::Regional,
        columns,
        id_columns: &["cluster_name"],
        fetch: |target, request| {
            Box::pin(async move {
                let client = Client::new(&target.config);
                let mut pairs = Vec::new();
                for cluster in cluster_names(&client, request, "cluster_name").await? {
                    let nodegroups = client
                        .list_nodegroups()
                        .cluster_name(&cluster)
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await
                        .map_err(|e| CallError::from_sdk("eks ListNodegroups", e));
                    pairs.extend(
                        empty_if_not_found(nodegroups)?
                            .into_iter()
                            .map(|n| (cluster.clone(), n)),
                    );
                }
                let items = describe_each(pairs, |(cluster, nodegroup)| {
                    let client = client.clone();
                    async move {
                        let output = client
                            .describe_nodegroup()
                            .cluster_name(cluster)
                            .nodegroup_name(nodegroup)
                            .send()
                            .await
                            .map_err(|e| CallError::from_sdk("eks DescribeNodegroup", e))?;
                        Ok(output.nodegroup().cloned())
                    }
                })
                .await?;
                Ok(items.into())
            })
        },
        region_of: None,
    }
}
