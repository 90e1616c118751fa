//! EC2 tables: instances, security groups and their rules, VPCs, subnets.

use std::sync::Arc;

use aws_sdk_ec2::types::{Filter, Instance, IpPermission, SecurityGroup, Subnet, Vpc};
use futures::future::BoxFuture;

use super::{ec2_tag, ec2_tags, int, list, name_of, ts};
use crate::aws::table::{CallError, Col, Fetched, Request, Scope, Spec, Target, col};
use crate::kubernetes::tables::model::{Cell, ColType::*};

/// EC2 `Filters` for the id columns a query pins (values go to the API,
/// which then returns only those objects).
fn filters(request: &Request, pairs: &[(&str, &str)]) -> Option<Vec<Filter>> {
    let filters: Vec<Filter> = pairs
        .iter()
        .filter_map(|(column, name)| {
            let ids = request.ids(column)?;
            Some(
                Filter::builder()
                    .name(*name)
                    .set_values(Some(ids.to_vec()))
                    .build(),
            )
        })
        .collect();
    (!filters.is_empty()).then_some(filters)
}

pub(crate) fn instances() -> Spec<Instance> {
    let columns: Vec<Col<Instance>> = vec![
        col(
            "instance_id",
            Utf8,
            "Instance id (i-…); equals `nodes.instance_id`",
            |i| Cell::str(i.instance_id()),
        ),
        col("name", Utf8, "Value of the `Name` tag", |i| {
            Cell::str(ec2_tag(i.tags(), "Name"))
        }),
        col(
            "instance_type",
            Utf8,
            "Instance type (m5.large, …)",
            |i| name_of(i.instance_type()),
        ),
        col(
            "state",
            Utf8,
            "pending, running, stopping, stopped, shutting-down or terminated",
            |i| name_of(i.state().and_then(|s| s.name())),
        ),
        col("availability_zone", Utf8, "Availability zone", |i| {
            Cell::str(i.placement().and_then(|p| p.availability_zone()))
        }),
        col("vpc_id", Utf8, "VPC id", |i| Cell::str(i.vpc_id())),
        col("subnet_id", Utf8, "Subnet id", |i| Cell::str(i.subnet_id())),
        col("private_ip", Utf8, "Primary private IPv4 address", |i| {
            Cell::str(i.private_ip_address())
        }),
        col("public_ip", Utf8, "Public IPv4 address, if any", |i| {
            Cell::str(i.public_ip_address())
        }),
        col("private_dns_name", Utf8, "Private DNS name", |i| {
            Cell::str(i.private_dns_name().filter(|s| !s.is_empty()))
        }),
        col("public_dns_name", Utf8, "Public DNS name, if any", |i| {
            Cell::str(i.public_dns_name().filter(|s| !s.is_empty()))
        }),
        col("image_id", Utf8, "AMI id", |i| Cell::str(i.image_id())),
        col("key_name", Utf8, "SSH key pair name", |i| {
            Cell::str(i.key_name())
        }),
        col(
            "launch_time",
            Timestamp,
            "When the instance was launched",
            |i| ts(i.launch_time()),
        ),
        col(
            "security_group_ids",
            List,
            "Security groups of the instance",
            |i| list(i.security_groups().iter().filter_map(|g| g.group_id())),
        ),
        col(
            "iam_instance_profile_arn",
            Utf8,
            "Instance profile ARN",
            |i| Cell::str(i.iam_instance_profile().and_then(|p| p.arn())),
        ),
        col(
            "imds_v2_required",
            Boolean,
            "Instance metadata requires session tokens (IMDSv2)",
            |i| {
                Cell::bool(
                    i.metadata_options()
                        .and_then(|m| m.http_tokens())
                        .map(|t| t.as_str() == "required"),
                )
            },
        ),
        col(
            "platform",
            Utf8,
            "Platform details (Linux/UNIX, Windows, …)",
            |i| Cell::str(i.platform_details()),
        ),
        col("architecture", Utf8, "CPU architecture", |i| {
            name_of(i.architecture())
        }),
        col("tags", Map, "Tags; `tags['team']`", |i| ec2_tags(i.tags())),
    ];
    Spec {
        name: "ec2_instances",
        description: "EC2 instances",
        scope: Scope::Regional,
        columns,
        id_columns: &["instance_id", "vpc_id", "subnet_id"],
        fetch: fetch_instances,
        region_of: None,
    }
}

fn fetch_instances<'a>(
    target: &'a Target<'a>,
    request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<Instance>, CallError>> {
    Box::pin(async move {
        let reservations = aws_sdk_ec2::Client::new(&target.config)
            .describe_instances()
            .set_filters(filters(
                request,
                &[
                    ("instance_id", "instance-id"),
                    ("vpc_id", "vpc-id"),
                    ("subnet_id", "subnet-id"),
                ],
            ))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| CallError::from_sdk("ec2 DescribeInstances", e))?;
        Ok(reservations
            .into_iter()
            .flat_map(|r| r.instances.unwrap_or_default())
            .collect::<Vec<_>>()
            .into())
    })
}

async fn describe_security_groups(
    target: &Target<'_>,
    request: &Request,
) -> Result<Vec<SecurityGroup>, CallError> {
    aws_sdk_ec2::Client::new(&target.config)
        .describe_security_groups()
        .set_filters(filters(
            request,
            &[("group_id", "group-id"), ("vpc_id", "vpc-id")],
        ))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::from_sdk("ec2 DescribeSecurityGroups", e))
}

pub(crate) fn security_groups() -> Spec<SecurityGroup> {
    let columns: Vec<Col<SecurityGroup>> = vec![
        col("group_id", Utf8, "Security group id (sg-…)", |g| {
            Cell::str(g.group_id())
        }),
        col("group_name", Utf8, "Group name", |g| {
            Cell::str(g.group_name())
        }),
        col("description", Utf8, "Group description", |g| {
            Cell::str(g.description())
        }),
        col("vpc_id", Utf8, "VPC id", |g| Cell::str(g.vpc_id())),
        col("owner_id", Utf8, "Account that owns the group", |g| {
            Cell::str(g.owner_id())
        }),
        col(
            "ingress_rule_count",
            Int64,
            "Rows of this group in security_group_rules with direction ingress",
            |g| Cell::Int(g.ip_permissions().iter().map(sources).sum()),
        ),
        col(
            "egress_rule_count",
            Int64,
            "Rows of this group in security_group_rules with direction egress",
            |g| Cell::Int(g.ip_permissions_egress().iter().map(sources).sum()),
        ),
        col("tags", Map, "Tags; `tags['team']`", |g| ec2_tags(g.tags())),
    ];
    Spec {
        name: "ec2_security_groups",
        description: "EC2 (VPC) security groups",
        scope: Scope::Regional,
        columns,
        id_columns: &["group_id", "vpc_id"],
        fetch: |target, request| {
            Box::pin(async move { Ok(describe_security_groups(target, request).await?.into()) })
        },
        region_of: None,
    }
}

/// How many rule rows a permission becomes: one per source.
fn sources(p: &IpPermission) -> i64 {
    (p.ip_ranges().len()
        + p.ipv6_ranges().len()
        + p.user_id_group_pairs().len()
        + p.prefix_list_ids().len()) as i64
}

/// One security-group rule: one permission (by position in its group's
/// list, so rows of one permission share it) and one of its sources.
pub(crate) struct Rule {
    group: Arc<SecurityGroup>,
    direction: &'static str,
    permission: usize,
    source: RuleSource,
}

enum RuleSource {
    Ipv4(Option<String>, Option<String>),
    Ipv6(Option<String>, Option<String>),
    Group(Option<String>, Option<String>, Option<String>),
    PrefixList(Option<String>, Option<String>),
}

impl Rule {
    /// The protocol by name: AWS says `-1` for all and may give numbers.
    fn permission(&self) -> &IpPermission {
        &permissions(&self.group, self.direction)[self.permission]
    }

    fn protocol(&self) -> Option<&str> {
        Some(match self.permission().ip_protocol()? {
            "-1" => "all",
            "6" => "tcp",
            "17" => "udp",
            "1" => "icmp",
            "58" => "icmpv6",
            other => other,
        })
    }

    /// Ports as a range a port can be tested against: a rule for all
    /// protocols covers every port, 0–65535.
    fn ports(&self) -> (Option<i32>, Option<i32>) {
        if self.protocol() == Some("all") {
            return (Some(0), Some(65535));
        }
        (self.permission().from_port(), self.permission().to_port())
    }

    fn cidr_ipv4(&self) -> Option<&str> {
        match &self.source {
            RuleSource::Ipv4(cidr, _) => cidr.as_deref(),
            _ => None,
        }
    }

    fn cidr_ipv6(&self) -> Option<&str> {
        match &self.source {
            RuleSource::Ipv6(cidr, _) => cidr.as_deref(),
            _ => None,
        }
    }

    fn description(&self) -> Option<&str> {
        match &self.source {
            RuleSource::Ipv4(_, d)
            | RuleSource::Ipv6(_, d)
            | RuleSource::Group(_, _, d)
            | RuleSource::PrefixList(_, d) => d.as_deref(),
        }
    }
}

/// A group's ingress or egress permissions.
fn permissions<'a>(group: &'a SecurityGroup, direction: &str) -> &'a [IpPermission] {
    if direction == "ingress" {
        group.ip_permissions()
    } else {
        group.ip_permissions_egress()
    }
}

fn explode(group: &Arc<SecurityGroup>, direction: &'static str, rules: &mut Vec<Rule>) {
    for (index, permission) in permissions(group, direction).iter().enumerate() {
        let owned = |s: Option<&str>| s.map(str::to_string);
        let mut push = |source| {
            rules.push(Rule {
                group: group.clone(),
                direction,
                permission: index,
                source,
            })
        };
        for r in permission.ip_ranges() {
            push(RuleSource::Ipv4(owned(r.cidr_ip()), owned(r.description())));
        }
        for r in permission.ipv6_ranges() {
            push(RuleSource::Ipv6(
                owned(r.cidr_ipv6()),
                owned(r.description()),
            ));
        }
        for r in permission.user_id_group_pairs() {
            push(RuleSource::Group(
                owned(r.group_id()),
                owned(r.user_id()),
                owned(r.description()),
            ));
        }
        for r in permission.prefix_list_ids() {
            push(RuleSource::PrefixList(
                owned(r.prefix_list_id()),
                owned(r.description()),
            ));
        }
    }
}

pub(crate) fn security_group_rules() -> Spec<Rule> {
    let columns: Vec<Col<Rule>> = vec![
        col(
            "group_id",
            Utf8,
            "Security group the rule belongs to",
            |r| Cell::str(r.group.group_id()),
        ),
        col("group_name", Utf8, "Name of that group", |r| {
            Cell::str(r.group.group_name())
        }),
        col("vpc_id", Utf8, "VPC of the group", |r| {
            Cell::str(r.group.vpc_id())
        }),
        col("direction", Utf8, "ingress or egress", |r| {
            Cell::str(Some(r.direction))
        }),
        col(
            "protocol",
            Utf8,
            "tcp, udp, icmp, icmpv6, all, or a protocol number",
            |r| Cell::str(r.protocol()),
        ),
        col(
            "from_port",
            Int64,
            "First port of the range (ICMP: type); 0 when the rule allows all protocols",
            |r| int(r.ports().0),
        ),
        col(
            "to_port",
            Int64,
            "Last port of the range (ICMP: code); 65535 when the rule allows all protocols",
            |r| int(r.ports().1),
        ),
        col(
            "cidr_ipv4",
            Utf8,
            "IPv4 CIDR the rule allows (or, for egress, allows to)",
            |r| Cell::str(r.cidr_ipv4()),
        ),
        col("cidr_ipv6", Utf8, "IPv6 CIDR the rule allows", |r| {
            Cell::str(r.cidr_ipv6())
        }),
        col(
            "source_group_id",
            Utf8,
            "Security group the rule allows, by reference",
            |r| {
                Cell::str(match &r.source {
                    RuleSource::Group(id, _, _) => id.as_deref(),
                    _ => None,
                })
            },
        ),
        col(
            "source_account_id",
            Utf8,
            "Account of the referenced group",
            |r| {
                Cell::str(match &r.source {
                    RuleSource::Group(_, account, _) => account.as_deref(),
                    _ => None,
                })
            },
        ),
        col(
            "prefix_list_id",
            Utf8,
            "Managed prefix list the rule allows",
            |r| {
                Cell::str(match &r.source {
                    RuleSource::PrefixList(id, _) => id.as_deref(),
                    _ => None,
                })
            },
        ),
        col(
            "open_to_world",
            Boolean,
            "The source is 0.0.0.0/0 or ::/0",
            |r| Cell::Bool(r.cidr_ipv4() == Some("0.0.0.0/0") || r.cidr_ipv6() == Some("::/0")),
        ),
        col("description", Utf8, "Rule description", |r| {
            Cell::str(r.description())
        }),
    ];
    Spec {
        name: "security_group_rules",
        description: "Security group rules, one row per rule and source (CIDR, group, prefix list)",
        scope: Scope::Regional,
        columns,
        id_columns: &["group_id", "vpc_id"],
        fetch: |target, request| {
            Box::pin(async move {
                let mut rules = Vec::new();
                for group in describe_security_groups(target, request).await? {
                    let group = Arc::new(group);
                    explode(&group, "ingress", &mut rules);
                    explode(&group, "egress", &mut rules);
                }
                Ok(rules.into())
            })
        },
        region_of: None,
    }
}

pub(crate) fn vpcs() -> Spec<Vpc> {
    let columns: Vec<Col<Vpc>> = vec![
        col("vpc_id", Utf8, "VPC id", |v| Cell::str(v.vpc_id())),
        col("name", Utf8, "Value of the `Name` tag", |v| {
            Cell::str(ec2_tag(v.tags(), "Name"))
        }),
        col("cidr_block", Utf8, "Primary IPv4 CIDR", |v| {
            Cell::str(v.cidr_block())
        }),
        col("cidr_blocks", List, "Every associated IPv4 CIDR", |v| {
            list(
                v.cidr_block_association_set()
                    .iter()
                    .filter_map(|a| a.cidr_block()),
            )
        }),
        col("ipv6_cidr_blocks", List, "Associated IPv6 CIDRs", |v| {
            list(
                v.ipv6_cidr_block_association_set()
                    .iter()
                    .filter_map(|a| a.ipv6_cidr_block()),
            )
        }),
        col("is_default", Boolean, "The region's default VPC", |v| {
            Cell::bool(v.is_default())
        }),
        col("state", Utf8, "pending or available", |v| {
            name_of(v.state())
        }),
        col("dhcp_options_id", Utf8, "DHCP options set", |v| {
            Cell::str(v.dhcp_options_id())
        }),
        col(
            "instance_tenancy",
            Utf8,
            "default, dedicated or host",
            |v| name_of(v.instance_tenancy()),
        ),
        col("owner_id", Utf8, "Account that owns the VPC", |v| {
            Cell::str(v.owner_id())
        }),
        col("tags", Map, "Tags; `tags['team']`", |v| ec2_tags(v.tags())),
    ];
    Spec {
        name: "ec2_vpcs",
        description: "VPCs",
        scope: Scope::Regional,
        columns,
        id_columns: &["vpc_id"],
        fetch: |target, request| {
            Box::pin(async move {
                let items: Vec<_> = aws_sdk_ec2::Client::new(&target.config)
                    .describe_vpcs()
                    .set_filters(filters(request, &[("vpc_id", "vpc-id")]))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| CallError::from_sdk("ec2 DescribeVpcs", e))?;
                Ok(items.into())
            })
        },
        region_of: None,
    }
}

pub(crate) fn subnets() -> Spec<Subnet> {
    let columns: Vec<Col<Subnet>> = vec![
        col("subnet_id", Utf8, "Subnet id", |s| Cell::str(s.subnet_id())),
        col("name", Utf8, "Value of the `Name` tag", |s| {
            Cell::str(ec2_tag(s.tags(), "Name"))
        }),
        col("vpc_id", Utf8, "VPC id", |s| Cell::str(s.vpc_id())),
        col("cidr_block", Utf8, "IPv4 CIDR", |s| {
            Cell::str(s.cidr_block())
        }),
        col("ipv6_cidr_blocks", List, "IPv6 CIDRs", |s| {
            list(
                s.ipv6_cidr_block_association_set()
                    .iter()
                    .filter_map(|a| a.ipv6_cidr_block()),
            )
        }),
        col("availability_zone", Utf8, "Availability zone", |s| {
            Cell::str(s.availability_zone())
        }),
        col(
            "availability_zone_id",
            Utf8,
            "Availability zone id (use1-az1, …)",
            |s| Cell::str(s.availability_zone_id()),
        ),
        col(
            "available_ip_address_count",
            Int64,
            "Free IPv4 addresses",
            |s| int(s.available_ip_address_count()),
        ),
        col(
            "map_public_ip_on_launch",
            Boolean,
            "Instances get a public IPv4 address by default",
            |s| Cell::bool(s.map_public_ip_on_launch()),
        ),
        col(
            "default_for_az",
            Boolean,
            "Default subnet of its zone",
            |s| Cell::bool(s.default_for_az()),
        ),
        col("state", Utf8, "pending or available", |s| {
            name_of(s.state())
        }),
        col("subnet_arn", Utf8, "Subnet ARN", |s| {
            Cell::str(s.subnet_arn())
        }),
        col("tags", Map, "Tags; `tags['team']`", |s| ec2_tags(s.tags())),
    ];
    Spec {
        name: "ec2_subnets",
        description: "VPC subnets",
        scope: Scope::Regional,
        columns,
        id_columns: &["subnet_id", "vpc_id"],
        fetch: |target, request| {
            Box::pin(async move {
                let items: Vec<_> = aws_sdk_ec2::Client::new(&target.config)
                    .describe_subnets()
                    .set_filters(filters(
                        request,
                        &[("subnet_id", "subnet-id"), ("vpc_id", "vpc-id")],
                    ))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| CallError::from_sdk("ec2 DescribeSubnets", e))?;
                Ok(items.into())
            })
        },
        region_of: None,
    }
}
