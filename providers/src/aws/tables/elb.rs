//! Elastic Load Balancing v2 tables: application, network and gateway load
//! balancers, and their listeners.

use std::collections::HashMap;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{Listener, LoadBalancer, Tag};

use super::{describe_each, int, list, name_of, pairs, ts};
use crate::aws::table::{CallError, Col, Fetched, Request, Scope, Spec, col, empty_if_not_found};
use crate::kubernetes::tables::model::{Cell, ColType::*};

/// A load balancer and, when the query reads them, its tags.
pub(crate) struct Balancer {
    lb: LoadBalancer,
    tags: Option<Vec<Tag>>,
}

/// DescribeLoadBalancers, narrowed to the ARN or name the query pins.
/// Naming a balancer that does not exist is an empty answer, not an error;
/// several names are listed unfiltered, since one missing name fails the
/// whole call.
async fn describe(client: &Client, request: &Request) -> Result<Vec<LoadBalancer>, CallError> {
    let mut call = client.describe_load_balancers();
    match (request.ids("load_balancer_arn"), request.ids("name")) {
        (Some([arn]), _) => call = call.load_balancer_arns(arn),
        (_, Some([name])) => call = call.names(name),
        _ => {}
    }
    empty_if_not_found(
        call.into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| CallError::from_sdk("elbv2 DescribeLoadBalancers", e)),
    )
}

/// Tags of these ARNs, 20 per call (the API's limit).
async fn tags_of(client: &Client, arns: &[String]) -> Result<HashMap<String, Vec<Tag>>, CallError> {
    let mut tags = HashMap::new();
    for chunk in arns.chunks(20) {
        let output = client
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| CallError::from_sdk("elbv2 DescribeTags", e))?;
        for description in output.tag_descriptions() {
            if let Some(arn) = description.resource_arn() {
                tags.insert(arn.to_string(), description.tags().to_vec());
            }
        }
    }
    Ok(tags)
}

pub(crate) fn load_balancers() -> Spec<Balancer> {
    let columns: Vec<Col<Balancer>> = vec![
        col("load_balancer_arn", Utf8, "Load balancer ARN", |b| {
            Cell::str(b.lb.load_balancer_arn())
        }),
        col("name", Utf8, "Load balancer name", |b| {
            Cell::str(b.lb.load_balancer_name())
        }),
        col(
            "dns_name",
            Utf8,
            "DNS name; equals an entry of `services.load_balancer_hostnames`",
            |b| Cell::str(b.lb.dns_name()),
        ),
        col("scheme", Utf8, "internet-facing or internal", |b| {
            name_of(b.lb.scheme())
        }),
        col("type", Utf8, "application, network or gateway", |b| {
            name_of(b.lb.r#type())
        }),
        col(
            "state",
            Utf8,
            "provisioning, active, active_impaired or failed",
            |b| name_of(b.lb.state().and_then(|s| s.code())),
        ),
        col("vpc_id", Utf8, "VPC id", |b| Cell::str(b.lb.vpc_id())),
        col("availability_zones", List, "Zones it serves", |b| {
            list(
                b.lb.availability_zones()
                    .iter()
                    .filter_map(|z| z.zone_name()),
            )
        }),
        col("subnet_ids", List, "Subnets it serves", |b| {
            list(
                b.lb.availability_zones()
                    .iter()
                    .filter_map(|z| z.subnet_id()),
            )
        }),
        col(
            "security_groups",
            List,
            "Security group ids (application and network load balancers)",
            |b| list(b.lb.security_groups().iter().map(String::as_str)),
        ),
        col(
            "ip_address_type",
            Utf8,
            "ipv4, dualstack or dualstack-without-public-ipv4",
            |b| name_of(b.lb.ip_address_type()),
        ),
        col("created", Timestamp, "When it was created", |b| {
            ts(b.lb.created_time())
        }),
        col(
            "tags",
            Map,
            "Tags; `tags['kubernetes.io/service-name']`",
            |b| match &b.tags {
                Some(tags) => pairs(
                    tags.iter()
                        .filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))),
                ),
                None => Cell::Null,
            },
        ),
    ];
    Spec {
        name: "elbv2_load_balancers",
        description: "Application, network and gateway load balancers (ELBv2)",
        scope: Scope::Regional,
        columns,
        id_columns: &["load_balancer_arn", "name"],
        fetch: |target, request| {
            Box::pin(async move {
                let client = Client::new(&target.config);
                let lbs = describe(&client, request).await?;
                let mut warnings = Vec::new();
                let mut tags = HashMap::new();
                if request.wants("tags") && !lbs.is_empty() {
                    let arns: Vec<String> = lbs
                        .iter()
                        .filter_map(|lb| lb.load_balancer_arn().map(str::to_string))
                        .collect();
                    match tags_of(&client, &arns).await {
                        Ok(found) => tags = found,
                        Err(e) => warnings.push(e),
                    }
                }
                let items = lbs
                    .into_iter()
                    .map(|lb| {
                        let tags = lb.load_balancer_arn().and_then(|arn| tags.remove(arn));
                        Balancer { lb, tags }
                    })
                    .collect();
                Ok(Fetched { items, warnings })
            })
        },
        region_of: None,
    }
}

pub(crate) fn listeners() -> Spec<Listener> {
    let columns: Vec<Col<Listener>> = vec![
        col("listener_arn", Utf8, "Listener ARN", |l| {
            Cell::str(l.listener_arn())
        }),
        col("load_balancer_arn", Utf8, "Load balancer ARN", |l| {
            Cell::str(l.load_balancer_arn())
        }),
        col("port", Int64, "Port it listens on", |l| int(l.port())),
        col(
            "protocol",
            Utf8,
            "HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP or GENEVE",
            |l| name_of(l.protocol()),
        ),
        col(
            "ssl_policy",
            Utf8,
            "TLS security policy (HTTPS and TLS listeners)",
            |l| Cell::str(l.ssl_policy()),
        ),
        col("certificate_arns", List, "Default certificate ARNs", |l| {
            list(l.certificates().iter().filter_map(|c| c.certificate_arn()))
        }),
        col(
            "default_action_types",
            List,
            "forward, redirect, fixed-response, authenticate-oidc, …",
            |l| {
                list(
                    l.default_actions()
                        .iter()
                        .filter_map(|a| a.r#type().map(|t| t.as_str())),
                )
            },
        ),
        col(
            "default_target_group_arns",
            List,
            "Target groups the default actions forward to",
            |l| {
                list(
                    l.default_actions()
                        .iter()
                        .filter_map(|a| a.target_group_arn()),
                )
            },
        ),
    ];
    Spec {
        name: "elbv2_listeners",
        description: "Listeners of ELBv2 load balancers",
        scope: Scope::Regional,
        columns,
        id_columns: &["load_balancer_arn"],
        fetch: |target, request| {
            Box::pin(async move {
                let client = Client::new(&target.config);
                let arns: Vec<String> = match request.ids("load_balancer_arn") {
                    Some(arns) => arns.to_vec(),
                    None => describe(&client, &Request::default())
                        .await?
                        .iter()
                        .filter_map(|lb| lb.load_balancer_arn().map(str::to_string))
                        .collect(),
                };
                // A balancer deleted since it was listed has no listeners.
                let per_lb = describe_each(arns, |arn| {
                    let client = client.clone();
                    async move {
                        client
                            .describe_listeners()
                            .load_balancer_arn(arn)
                            .into_paginator()
                            .items()
                            .send()
                            .try_collect()
                            .await
                            .map(Some)
                            .map_err(|e| CallError::from_sdk("elbv2 DescribeListeners", e))
                    }
                })
                .await?;
                let items: Vec<Listener> = per_lb.into_iter().flatten().collect();
                Ok(items.into())
            })
        },
        region_of: None,
    }
}
