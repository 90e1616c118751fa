//! Compute Engine: instances, networks, subnetworks, firewall rules,
//! forwarding rules and addresses.
//!
//! Zonal and regional resources are read with the aggregated list (every
//! zone or region in one paged call; zones the API names as
//! `unreachables` become a warning, never a silent gap); a query pinning
//! `zone` or `region` asks those zones or regions alone.

use std::borrow::Cow;
use std::sync::Arc;

use futures::future::BoxFuture;
use google_cloud_compute_v1::model::{
    Address, Firewall, ForwardingRule, Instance, Network, Subnetwork,
};

use super::{
    GLOBAL_REGION, all_pages, enum_name, id, labels, last_segment, list, opt, region_of_zone, short,
};
use crate::cloud::{Col, col};
use crate::failures::FailureKind;
use crate::gcp::table::{CallError, Fetched, Request, Spec, Target};
use crate::kubernetes::tables::model::{Cell, ColType::*};

/// Zones or regions an aggregated list could not reach, as one warning.
fn unreachable(operation: &'static str, mut scopes: Vec<String>) -> Option<CallError> {
    if scopes.is_empty() {
        return None;
    }
    scopes.sort();
    scopes.dedup();
    Some(CallError::new(
        operation,
        Some("UNREACHABLE".to_string()),
        format!(
            "GCP could not reach {}; their resources are missing",
            scopes.join(", ")
        ),
        FailureKind::Unreachable,
    ))
}

/// Defines the fetch of a zonal or regional resource: one zonal or
/// regional list per pinned scope, or the aggregated list when nothing is
/// pinned (a pinned scope that does not exist is no rows, not a failure),
/// sorted by scope and name.
macro_rules! scoped_or_aggregated {
    ($name:ident -> $item:ty, $client:ident, $pin:literal, $set_scope:ident, $scope_field:ident, $field:ident, $op_list:literal, $op_agg:literal) => {
        fn $name<'a>(
            target: &'a Target<'a>,
            request: &'a Request,
        ) -> BoxFuture<'a, Result<Fetched<$item>, CallError>> {
            Box::pin(async move {
                let clients = target.clients;
                let project = target.scope;
                let mut fetched = match request.pinned($pin) {
                    Some(scopes) => {
                        let mut items = Vec::new();
                        for scope in scopes {
                            let pages = clients
                                .$client
                                .list()
                                .set_project(project)
                                .$set_scope(scope.clone())
                                .by_page();
                            match all_pages(pages, $op_list).await {
                                Ok(pages) => items.extend(pages.into_iter().flat_map(|p| p.items)),
                                Err(e) if e.is_not_found() => {}
                                Err(e) => return Err(e),
                            }
                        }
                        Fetched::from(items)
                    }
                    None => {
                        let pages = clients
                            .$client
                            .aggregated_list()
                            .set_project(project)
                            .by_page();
                        let mut items = Vec::new();
                        let mut missing = Vec::new();
                        for page in all_pages(pages, $op_agg).await? {
                            missing.extend(page.unreachables);
                            items.extend(page.items.into_values().flat_map(|scoped| scoped.$field));
                        }
                        Fetched {
                            items,
                            warnings: unreachable($op_agg, missing).into_iter().collect(),
                        }
                    }
                };
                fetched.items.sort_by(|a, b| {
                    (short_of(&a.$scope_field), &a.name).cmp(&(short_of(&b.$scope_field), &b.name))
                });
                Ok(fetched)
            })
        }
    };
}

scoped_or_aggregated!(fetch_instances -> Instance, instances, "zone", set_zone, zone, instances, "instances.list", "instances.aggregatedList");

fn short_of(url: &Option<String>) -> &str {
    url.as_deref().map_or("", last_segment)
}

fn zone_of(i: &Instance) -> Option<&str> {
    i.zone.as_deref().map(last_segment)
}

/// Every access config's NAT address: what the internet reaches.
fn external_ips(i: &Instance) -> Cell<'_> {
    Cell::List(
        i.network_interfaces
            .iter()
            .flat_map(|n| &n.access_configs)
            .filter_map(|a| a.nat_ip.as_deref())
            .map(Cow::Borrowed)
            .collect(),
    )
}

pub(crate) fn instances() -> Spec<Instance> {
    let columns: Vec<Col<Instance>> = vec![
        col("zone", Utf8, "Zone the instance runs in", |i| {
            Cell::str(zone_of(i))
        }),
        col("region", Utf8, "Region of that zone", |i| {
            Cell::str(zone_of(i).map(region_of_zone))
        }),
        col("name", Utf8, "Instance name", |i| opt(i.name.as_ref())),
        col("id", Utf8, "Numeric instance id, as text", |i| id(i.id)),
        col("status", Utf8, "RUNNING, TERMINATED, STOPPING, …", |i| {
            enum_name!(i.status.as_ref())
        }),
        col(
            "machine_type",
            Utf8,
            "Machine type (e2-standard-4, …)",
            |i| short(i.machine_type.as_ref()),
        ),
        col(
            "provider_id",
            Utf8,
            "gce://PROJECT/ZONE/NAME, as a GKE node's spec.providerID names this instance",
            |i| {
                let project = i
                    .self_link
                    .as_deref()
                    .and_then(|l| l.split("/projects/").nth(1))
                    .and_then(|rest| rest.split('/').next());
                match (project, zone_of(i), i.name.as_deref()) {
                    (Some(p), Some(z), Some(n)) => Cell::string(Some(format!("gce://{p}/{z}/{n}"))),
                    _ => Cell::Null,
                }
            },
        ),
        col(
            "internal_ips",
            List,
            "Internal addresses of its network interfaces",
            |i| {
                Cell::List(
                    i.network_interfaces
                        .iter()
                        .filter_map(|n| n.network_ip.as_deref())
                        .map(Cow::Borrowed)
                        .collect(),
                )
            },
        ),
        col(
            "external_ips",
            List,
            "External (NAT) addresses of its access configs: reachable from the internet",
            external_ips,
        ),
        col("network", Utf8, "Network of the first interface", |i| {
            short(
                i.network_interfaces
                    .first()
                    .and_then(|n| n.network.as_ref()),
            )
        }),
        col(
            "subnetwork",
            Utf8,
            "Subnetwork of the first interface",
            |i| {
                short(
                    i.network_interfaces
                        .first()
                        .and_then(|n| n.subnetwork.as_ref()),
                )
            },
        ),
        col(
            "network_tags",
            List,
            "Network tags, which firewall rules target",
            |i| list(i.tags.iter().flat_map(|t| &t.items)),
        ),
        col(
            "service_accounts",
            List,
            "Service accounts the instance runs as",
            |i| {
                Cell::List(
                    i.service_accounts
                        .iter()
                        .filter_map(|s| s.email.as_deref())
                        .map(Cow::Borrowed)
                        .collect(),
                )
            },
        ),
        col(
            "scopes",
            List,
            "OAuth scopes granted to those service accounts",
            |i| list(i.service_accounts.iter().flat_map(|s| &s.scopes)),
        ),
        col(
            "can_ip_forward",
            Boolean,
            "Whether it may route packets not addressed to it",
            |i| Cell::bool(i.can_ip_forward),
        ),
        col("secure_boot", Boolean, "Shielded VM secure boot", |i| {
            Cell::bool(
                i.shielded_instance_config
                    .as_ref()
                    .and_then(|s| s.enable_secure_boot),
            )
        }),
        col(
            "gke_cluster",
            Utf8,
            "GKE cluster whose node this is (label goog-k8s-cluster-name)",
            |i| Cell::str(i.labels.get("goog-k8s-cluster-name").map(String::as_str)),
        ),
        col("labels", Map, "Labels", |i| labels(&i.labels)),
        col("created", Timestamp, "When the instance was created", |i| {
            opt(i.creation_timestamp.as_ref())
        }),
        col("self_link", Utf8, "Full resource URL", |i| {
            opt(i.self_link.as_ref())
        }),
    ];
    Spec {
        name: "compute_instances",
        description: "Compute Engine VM instances (GKE nodes included), one row per instance",
        columns,
        narrowing: &["zone"],
        fetch: fetch_instances,
    }
}

fn fetch_networks<'a>(
    target: &'a Target<'a>,
    _request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<Network>, CallError>> {
    Box::pin(async move {
        let pages = target
            .clients
            .networks
            .list()
            .set_project(target.scope)
            .by_page();
        let items = all_pages(pages, "networks.list").await?;
        Ok(Fetched::from(
            items.into_iter().flat_map(|p| p.items).collect::<Vec<_>>(),
        ))
    })
}

pub(crate) fn networks() -> Spec<Network> {
    let columns: Vec<Col<Network>> = vec![
        col(
            "region",
            Utf8,
            "Always `global`: networks span regions",
            |_| Cell::str(Some(GLOBAL_REGION)),
        ),
        col("name", Utf8, "Network name", |n| opt(n.name.as_ref())),
        col("id", Utf8, "Numeric network id, as text", |n| id(n.id)),
        col(
            "auto_create_subnetworks",
            Boolean,
            "Auto mode: one subnetwork per region, created by GCP",
            |n| Cell::bool(n.auto_create_subnetworks),
        ),
        col(
            "routing_mode",
            Utf8,
            "REGIONAL or GLOBAL dynamic routing",
            |n| {
                enum_name!(
                    n.routing_config
                        .as_ref()
                        .and_then(|r| r.routing_mode.as_ref())
                )
            },
        ),
        col("mtu", Int64, "Maximum transmission unit", |n| {
            Cell::int(n.mtu.map(i64::from))
        }),
        col("subnetworks", List, "Names of its subnetworks", |n| {
            Cell::List(
                n.subnetworks
                    .iter()
                    .map(|s| Cow::Borrowed(last_segment(s)))
                    .collect(),
            )
        }),
        col("created", Timestamp, "When the network was created", |n| {
            opt(n.creation_timestamp.as_ref())
        }),
        col("self_link", Utf8, "Full resource URL", |n| {
            opt(n.self_link.as_ref())
        }),
    ];
    Spec {
        name: "compute_networks",
        description: "VPC networks, one row per network",
        columns,
        narrowing: &[],
        fetch: fetch_networks,
    }
}

scoped_or_aggregated!(fetch_subnetworks -> Subnetwork, subnetworks, "region", set_region, region, subnetworks, "subnetworks.list", "subnetworks.aggregatedList");

pub(crate) fn subnetworks() -> Spec<Subnetwork> {
    let columns: Vec<Col<Subnetwork>> = vec![
        col("region", Utf8, "Region of the subnetwork", |s| {
            short(s.region.as_ref())
        }),
        col("name", Utf8, "Subnetwork name", |s| opt(s.name.as_ref())),
        col("id", Utf8, "Numeric subnetwork id, as text", |s| id(s.id)),
        col("network", Utf8, "Network it belongs to", |s| {
            short(s.network.as_ref())
        }),
        col("ip_cidr_range", Utf8, "Primary IPv4 range", |s| {
            opt(s.ip_cidr_range.as_ref())
        }),
        col(
            "secondary_ranges",
            Map,
            "Secondary ranges by name (GKE pod and service ranges)",
            |s| {
                let mut pairs: Vec<(Cow<'_, str>, Option<Cow<'_, str>>)> = s
                    .secondary_ip_ranges
                    .iter()
                    .filter_map(|r| {
                        Some((
                            Cow::Borrowed(r.range_name.as_deref()?),
                            r.ip_cidr_range.as_deref().map(Cow::Borrowed),
                        ))
                    })
                    .collect();
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                Cell::Pairs(pairs)
            },
        ),
        col(
            "private_ip_google_access",
            Boolean,
            "Whether VMs without external addresses reach Google APIs",
            |s| Cell::bool(s.private_ip_google_access),
        ),
        col("flow_logs", Boolean, "Whether VPC flow logs are on", |s| {
            Cell::bool(
                s.log_config
                    .as_ref()
                    .and_then(|l| l.enable)
                    .or(s.enable_flow_logs),
            )
        }),
        col(
            "purpose",
            Utf8,
            "PRIVATE, REGIONAL_MANAGED_PROXY, …",
            |s| enum_name!(s.purpose.as_ref()),
        ),
        col(
            "created",
            Timestamp,
            "When the subnetwork was created",
            |s| opt(s.creation_timestamp.as_ref()),
        ),
    ];
    Spec {
        name: "compute_subnetworks",
        description: "VPC subnetworks, one row per subnetwork and region",
        columns,
        narrowing: &["region"],
        fetch: fetch_subnetworks,
    }
}

/// One row of `compute_firewall_rules`: a rule, one protocol entry of its
/// allowed/denied list, one port range of that entry, and one source (or,
/// for an egress rule, destination).
pub(crate) struct FirewallRow {
    rule: Arc<Firewall>,
    action: &'static str,
    protocol: String,
    ports: Option<String>,
    from_port: Option<i64>,
    to_port: Option<i64>,
    cidr: Option<String>,
    source_tag: Option<String>,
    source_service_account: Option<String>,
}

/// `22` → (22, 22), `8000-9000` → (8000, 9000); a protocol entry without
/// ports covers every port of tcp, udp and sctp, and no port of the rest.
fn port_range(protocol: &str, ports: Option<&str>) -> (Option<i64>, Option<i64>) {
    match ports {
        Some(p) => {
            let (from, to) = p.split_once('-').unwrap_or((p, p));
            (from.trim().parse().ok(), to.trim().parse().ok())
        }
        None if matches!(protocol, "tcp" | "udp" | "sctp" | "all") => (Some(0), Some(65535)),
        None => (None, None),
    }
}

fn firewall_rows(rule: Firewall) -> Vec<FirewallRow> {
    let rule = Arc::new(rule);
    let ingress = rule
        .direction
        .as_ref()
        .and_then(|d| d.name())
        .is_none_or(|d| d == "INGRESS");
    // A source is a range, a tag or a service account; each is a row.
    let mut sources: Vec<(Option<String>, Option<String>, Option<String>)> = Vec::new();
    if ingress {
        sources.extend(
            rule.source_ranges
                .iter()
                .map(|r| (Some(r.clone()), None, None)),
        );
        sources.extend(
            rule.source_tags
                .iter()
                .map(|t| (None, Some(t.clone()), None)),
        );
        sources.extend(
            rule.source_service_accounts
                .iter()
                .map(|s| (None, None, Some(s.clone()))),
        );
    } else {
        sources.extend(
            rule.destination_ranges
                .iter()
                .map(|r| (Some(r.clone()), None, None)),
        );
    }
    if sources.is_empty() {
        // An egress rule without destinations covers every destination.
        let everywhere = (!ingress).then(|| "0.0.0.0/0".to_string());
        sources.push((everywhere, None, None));
    }
    let entries: Vec<(&'static str, String, Vec<String>)> = rule
        .allowed
        .iter()
        .map(|a| {
            (
                "allow",
                a.ip_protocol.clone().unwrap_or_default(),
                a.ports.clone(),
            )
        })
        .chain(rule.denied.iter().map(|d| {
            (
                "deny",
                d.ip_protocol.clone().unwrap_or_default(),
                d.ports.clone(),
            )
        }))
        .collect();
    let mut rows = Vec::new();
    for (action, protocol, ports) in entries {
        let protocol = protocol.to_ascii_lowercase();
        let ranges: Vec<Option<String>> = if ports.is_empty() {
            vec![None]
        } else {
            ports.into_iter().map(Some).collect()
        };
        for ports in ranges {
            let (from_port, to_port) = port_range(&protocol, ports.as_deref());
            for (cidr, tag, account) in &sources {
                rows.push(FirewallRow {
                    rule: rule.clone(),
                    action,
                    protocol: protocol.clone(),
                    ports: ports.clone(),
                    from_port,
                    to_port,
                    cidr: cidr.clone(),
                    source_tag: tag.clone(),
                    source_service_account: account.clone(),
                });
            }
        }
    }
    rows
}

fn fetch_firewall_rules<'a>(
    target: &'a Target<'a>,
    _request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<FirewallRow>, CallError>> {
    Box::pin(async move {
        let pages = target
            .clients
            .firewalls
            .list()
            .set_project(target.scope)
            .by_page();
        let mut rules: Vec<Firewall> = all_pages(pages, "firewalls.list")
            .await?
            .into_iter()
            .flat_map(|p| p.items)
            .collect();
        rules.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Fetched::from(
            rules
                .into_iter()
                .flat_map(firewall_rows)
                .collect::<Vec<_>>(),
        ))
    })
}

pub(crate) fn firewall_rules() -> Spec<FirewallRow> {
    let columns: Vec<Col<FirewallRow>> = vec![
        col(
            "region",
            Utf8,
            "Always `global`: firewall rules apply to a whole network",
            |_| Cell::str(Some(GLOBAL_REGION)),
        ),
        col("name", Utf8, "Firewall rule name", |r| {
            opt(r.rule.name.as_ref())
        }),
        col("id", Utf8, "Numeric rule id, as text", |r| id(r.rule.id)),
        col("network", Utf8, "Network the rule applies to", |r| {
            short(r.rule.network.as_ref())
        }),
        col("direction", Utf8, "ingress or egress", |r| {
            Cell::string(
                r.rule
                    .direction
                    .as_ref()
                    .and_then(|d| d.name())
                    .map(str::to_ascii_lowercase),
            )
        }),
        col("action", Utf8, "allow or deny", |r| {
            Cell::str(Some(r.action))
        }),
        col("priority", Int64, "Priority: lower numbers win", |r| {
            Cell::int(r.rule.priority.map(i64::from))
        }),
        col(
            "disabled",
            Boolean,
            "Whether the rule is switched off",
            |r| Cell::bool(Some(r.rule.disabled.unwrap_or(false))),
        ),
        col("protocol", Utf8, "tcp, udp, icmp, … or all", |r| {
            Cell::str(Some(&r.protocol))
        }),
        col(
            "ports",
            Utf8,
            "The port or range as written (NULL: every port)",
            |r| Cell::str(r.ports.as_deref()),
        ),
        col(
            "from_port",
            Int64,
            "First port covered (0 for every port)",
            |r| Cell::int(r.from_port),
        ),
        col(
            "to_port",
            Int64,
            "Last port covered (65535 for every port)",
            |r| Cell::int(r.to_port),
        ),
        col(
            "cidr",
            Utf8,
            "Source range of an ingress row, destination range of an egress row",
            |r| Cell::str(r.cidr.as_deref()),
        ),
        col(
            "source_tag",
            Utf8,
            "Source network tag of an ingress row",
            |r| Cell::str(r.source_tag.as_deref()),
        ),
        col(
            "source_service_account",
            Utf8,
            "Source service account of an ingress row",
            |r| Cell::str(r.source_service_account.as_deref()),
        ),
        col(
            "open_to_world",
            Boolean,
            "Whether the range is 0.0.0.0/0 or ::/0",
            |r| {
                Cell::bool(Some(matches!(
                    r.cidr.as_deref(),
                    Some("0.0.0.0/0" | "::/0")
                )))
            },
        ),
        col(
            "target_tags",
            List,
            "Network tags of the instances it applies to (empty with no target service accounts: every instance)",
            |r| list(&r.rule.target_tags),
        ),
        col(
            "target_service_accounts",
            List,
            "Service accounts of the instances it applies to",
            |r| list(&r.rule.target_service_accounts),
        ),
        col(
            "logging",
            Boolean,
            "Whether firewall rules logging is on",
            |r| {
                Cell::bool(Some(
                    r.rule
                        .log_config
                        .as_ref()
                        .and_then(|l| l.enable)
                        .unwrap_or(false),
                ))
            },
        ),
        col("created", Timestamp, "When the rule was created", |r| {
            opt(r.rule.creation_timestamp.as_ref())
        }),
    ];
    Spec {
        name: "compute_firewall_rules",
        description: "VPC firewall rules, one row per rule × protocol × port range × source (destination for egress)",
        columns,
        narrowing: &[],
        fetch: fetch_firewall_rules,
    }
}

scoped_or_aggregated!(fetch_forwarding_rules -> ForwardingRule, forwarding_rules, "region", set_region, region, forwarding_rules, "forwardingRules.list", "forwardingRules.aggregatedList");

/// The Service a GKE-made forwarding rule serves: GKE's service
/// controller writes `{"kubernetes.io/service-name":"ns/name"}` as the
/// rule's description.
fn kubernetes_service(rule: &ForwardingRule) -> Option<String> {
    let description: serde_json::Value = serde_json::from_str(rule.description.as_deref()?).ok()?;
    Some(
        description
            .get("kubernetes.io/service-name")?
            .as_str()?
            .to_string(),
    )
}

pub(crate) fn forwarding_rules() -> Spec<ForwardingRule> {
    let columns: Vec<Col<ForwardingRule>> = vec![
        col(
            "region",
            Utf8,
            "Region of the rule (`global` for global rules)",
            |r| {
                Cell::str(Some(
                    r.region.as_deref().map_or(GLOBAL_REGION, last_segment),
                ))
            },
        ),
        col("name", Utf8, "Forwarding rule name", |r| {
            opt(r.name.as_ref())
        }),
        col("id", Utf8, "Numeric rule id, as text", |r| id(r.id)),
        col("ip_address", Utf8, "The address clients connect to", |r| {
            opt(r.ip_address.as_ref())
        }),
        col("ip_protocol", Utf8, "TCP, UDP, …", |r| {
            enum_name!(r.ip_protocol.as_ref())
        }),
        col("port_range", Utf8, "Port range it forwards (80-80)", |r| {
            opt(r.port_range.as_ref())
        }),
        col("ports", List, "Individual ports it forwards", |r| {
            list(&r.ports)
        }),
        col(
            "all_ports",
            Boolean,
            "Whether it forwards every port",
            |r| Cell::bool(r.all_ports),
        ),
        col(
            "load_balancing_scheme",
            Utf8,
            "EXTERNAL (internet-facing), INTERNAL, …",
            |r| enum_name!(r.load_balancing_scheme.as_ref()),
        ),
        col(
            "target",
            Utf8,
            "Target pool, proxy or backend service",
            |r| opt(r.target.as_ref().or(r.backend_service.as_ref())),
        ),
        col("network", Utf8, "Network of an internal rule", |r| {
            short(r.network.as_ref())
        }),
        col(
            "kubernetes_service",
            Utf8,
            "NAMESPACE/NAME of the Kubernetes Service GKE made this rule for",
            |r| Cell::string(kubernetes_service(r)),
        ),
        col("labels", Map, "Labels", |r| labels(&r.labels)),
        col("created", Timestamp, "When the rule was created", |r| {
            opt(r.creation_timestamp.as_ref())
        }),
    ];
    Spec {
        name: "compute_forwarding_rules",
        description: "Forwarding rules: the addresses load balancers (and LoadBalancer Services) listen on",
        columns,
        narrowing: &["region"],
        fetch: fetch_forwarding_rules,
    }
}

scoped_or_aggregated!(fetch_addresses -> Address, addresses, "region", set_region, region, addresses, "addresses.list", "addresses.aggregatedList");

pub(crate) fn addresses() -> Spec<Address> {
    let columns: Vec<Col<Address>> = vec![
        col(
            "region",
            Utf8,
            "Region of the address (`global` for global ones)",
            |a| {
                Cell::str(Some(
                    a.region.as_deref().map_or(GLOBAL_REGION, last_segment),
                ))
            },
        ),
        col("name", Utf8, "Address name", |a| opt(a.name.as_ref())),
        col("id", Utf8, "Numeric address id, as text", |a| id(a.id)),
        col("address", Utf8, "The IP address", |a| {
            opt(a.address.as_ref())
        }),
        col("address_type", Utf8, "EXTERNAL or INTERNAL", |a| {
            enum_name!(a.address_type.as_ref())
        }),
        col(
            "status",
            Utf8,
            "RESERVED (unused, still billed) or IN_USE",
            |a| enum_name!(a.status.as_ref()),
        ),
        col(
            "users",
            List,
            "Resources using it (forwarding rules, instances)",
            |a| list(&a.users),
        ),
        col("network_tier", Utf8, "PREMIUM or STANDARD", |a| {
            enum_name!(a.network_tier.as_ref())
        }),
        col(
            "purpose",
            Utf8,
            "What an internal address is reserved for",
            |a| enum_name!(a.purpose.as_ref()),
        ),
        col("created", Timestamp, "When the address was reserved", |a| {
            opt(a.creation_timestamp.as_ref())
        }),
    ];
    Spec {
        name: "compute_addresses",
        description: "Reserved IP addresses, one row per address",
        columns,
        narrowing: &["region"],
        fetch: fetch_addresses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_compute_v1::model::firewall::{Allowed, Direction};

    #[test]
    fn a_firewall_rule_is_one_row_per_protocol_port_and_source() {
        let rule = Firewall::new()
            .set_name("web")
            .set_direction(Direction::Ingress)
            .set_source_ranges(["0.0.0.0/0", "10.0.0.0/8"])
            .set_allowed([
                Allowed::new()
                    .set_ip_protocol("tcp")
                    .set_ports(["80", "8000-9000"]),
                Allowed::new().set_ip_protocol("icmp"),
            ]);
        let rows = firewall_rows(rule);
        let shape: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.protocol.as_str(),
                    r.from_port,
                    r.to_port,
                    r.cidr.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("tcp", Some(80), Some(80), Some("0.0.0.0/0")),
                ("tcp", Some(80), Some(80), Some("10.0.0.0/8")),
                ("tcp", Some(8000), Some(9000), Some("0.0.0.0/0")),
                ("tcp", Some(8000), Some(9000), Some("10.0.0.0/8")),
                ("icmp", None, None, Some("0.0.0.0/0")),
                ("icmp", None, None, Some("10.0.0.0/8")),
            ]
        );
        let all = firewall_rows(
            Firewall::new()
                .set_source_tags(["bastion"])
                .set_allowed([Allowed::new().set_ip_protocol("all")]),
        );
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].from_port, all[0].to_port), (Some(0), Some(65535)));
        assert_eq!(all[0].source_tag.as_deref(), Some("bastion"));
    }

    #[test]
    fn gke_names_the_service_in_the_description() {
        let rule = ForwardingRule::new()
            .set_description(r#"{"kubernetes.io/service-name":"shop/frontend"}"#);
        assert_eq!(kubernetes_service(&rule).as_deref(), Some("shop/frontend"));
        assert_eq!(
            kubernetes_service(&ForwardingRule::new().set_description("manual")),
            None
        );
    }
}
