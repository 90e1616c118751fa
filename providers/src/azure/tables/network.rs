//! Microsoft.Network: network security group rules, public IP addresses
//! and load balancers.

use std::borrow::Cow;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::{arm_columns, at, ids, list_all, listed, resource_group, tags, text};
use crate::azure::table::{CallError, Fetched, Request, Spec, Target};
use crate::cloud::{Col, col};
use crate::kubernetes::tables::model::{Cell, ColType::*};

/// One row of `nsg_rules`: a security rule, one source prefix of it and
/// one destination port range.
pub(crate) struct RuleRow {
    group: Arc<Value>,
    rule: Value,
    default_rule: bool,
    source: Option<String>,
    ports: Option<String>,
    from_port: Option<i64>,
    to_port: Option<i64>,
}

/// The strings of a field that ARM writes either singly (`…Prefix`) or as
/// a list (`…Prefixes`).
fn one_or_many(properties: &Value, single: &str, many: &str) -> Vec<String> {
    let mut values: Vec<String> = properties
        .get(many)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if let Some(one) = properties
        .get(single)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        values.insert(0, one.to_string());
    }
    values
}

/// `22` → (22, 22), `8000-8100` → (8000, 8100), `*` → every port.
fn port_range(ports: &str) -> (Option<i64>, Option<i64>) {
    if ports == "*" {
        return (Some(0), Some(65535));
    }
    let (from, to) = ports.split_once('-').unwrap_or((ports, ports));
    (from.trim().parse().ok(), to.trim().parse().ok())
}

fn rule_rows(group: Value) -> Vec<RuleRow> {
    let group = Arc::new(group);
    let mut rows = Vec::new();
    for (key, default_rule) in [("securityRules", false), ("defaultSecurityRules", true)] {
        for rule in at(&group, &["properties", key])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let properties = rule.get("properties").cloned().unwrap_or(Value::Null);
            let mut sources: Vec<Option<String>> =
                one_or_many(&properties, "sourceAddressPrefix", "sourceAddressPrefixes")
                    .into_iter()
                    .map(Some)
                    .collect();
            if sources.is_empty() {
                // Application security groups only.
                sources.push(None);
            }
            let mut ports: Vec<Option<String>> =
                one_or_many(&properties, "destinationPortRange", "destinationPortRanges")
                    .into_iter()
                    .map(Some)
                    .collect();
            if ports.is_empty() {
                ports.push(None);
            }
            for port in &ports {
                let (from_port, to_port) = port.as_deref().map_or((None, None), port_range);
                for source in &sources {
                    rows.push(RuleRow {
                        group: group.clone(),
                        rule: rule.clone(),
                        default_rule,
                        source: source.clone(),
                        ports: port.clone(),
                        from_port,
                        to_port,
                    });
                }
            }
        }
    }
    rows
}

fn fetch_rules<'a>(
    target: &'a Target<'a>,
    _request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<RuleRow>, CallError>> {
    Box::pin(async move {
        let groups = list_all(
            target,
            "networkSecurityGroups.listAll",
            "Microsoft.Network/networkSecurityGroups",
            NETWORK_API,
        )
        .await?;
        Ok(Fetched::from(
            groups.into_iter().flat_map(rule_rows).collect::<Vec<_>>(),
        ))
    })
}

const NETWORK_API: &str = "2024-05-01";

fn lower<'a>(v: &'a Value, path: &[&str]) -> Cell<'a> {
    Cell::string(
        at(v, path)
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase),
    )
}

pub(crate) fn nsg_rules() -> Spec<RuleRow> {
    let columns: Vec<Col<RuleRow>> = vec![
        col(
            "resource_group",
            Utf8,
            "Resource group of the security group",
            |r| resource_group(&r.group),
        ),
        col("location", Utf8, "Azure region", |r| {
            text(&r.group, &["location"])
        }),
        col("nsg", Utf8, "Network security group name", |r| {
            text(&r.group, &["name"])
        }),
        col("nsg_id", Utf8, "Network security group id", |r| {
            text(&r.group, &["id"])
        }),
        col("name", Utf8, "Rule name", |r| text(&r.rule, &["name"])),
        col(
            "default_rule",
            Boolean,
            "Whether it is one of Azure's default rules",
            |r| Cell::bool(Some(r.default_rule)),
        ),
        col("direction", Utf8, "inbound or outbound", |r| {
            lower(&r.rule, &["properties", "direction"])
        }),
        col("access", Utf8, "allow or deny", |r| {
            lower(&r.rule, &["properties", "access"])
        }),
        col("priority", Int64, "Priority: lower numbers win", |r| {
            super::int(&r.rule, &["properties", "priority"])
        }),
        col("protocol", Utf8, "tcp, udp, icmp, … or all (`*`)", |r| {
            Cell::string(
                at(&r.rule, &["properties", "protocol"])
                    .and_then(Value::as_str)
                    .map(|p| {
                        if p == "*" {
                            "all".to_string()
                        } else {
                            p.to_ascii_lowercase()
                        }
                    }),
            )
        }),
        col(
            "source",
            Utf8,
            "Source prefix: a CIDR, a service tag (Internet, VirtualNetwork) or *",
            |r| Cell::str(r.source.as_deref()),
        ),
        col(
            "ports",
            Utf8,
            "Destination port or range as written (* for every port)",
            |r| Cell::str(r.ports.as_deref()),
        ),
        col("from_port", Int64, "First destination port covered", |r| {
            Cell::int(r.from_port)
        }),
        col("to_port", Int64, "Last destination port covered", |r| {
            Cell::int(r.to_port)
        }),
        col(
            "open_to_world",
            Boolean,
            "Whether the source is anyone: *, Internet, Any, 0.0.0.0/0 or ::/0",
            |r| {
                Cell::bool(Some(matches!(
                    r.source.as_deref(),
                    Some("*" | "Internet" | "Any" | "0.0.0.0/0" | "::/0")
                )))
            },
        ),
        col("destination", Utf8, "Destination prefix", |r| {
            text(&r.rule, &["properties", "destinationAddressPrefix"])
        }),
        col(
            "subnets",
            List,
            "Ids of the subnets the group is attached to",
            |r| ids(&r.group, &["properties", "subnets"]),
        ),
        col(
            "network_interfaces",
            List,
            "Ids of the network interfaces it is attached to",
            |r| ids(&r.group, &["properties", "networkInterfaces"]),
        ),
    ];
    Spec {
        name: "nsg_rules",
        description: "Network security group rules, one row per rule × source prefix × destination port range (default rules included)",
        columns,
        narrowing: &[],
        fetch: fetch_rules,
    }
}

pub(crate) fn public_ips() -> Spec<Value> {
    let mut columns: Vec<Col<Value>> = arm_columns!("Public IP");
    columns.extend([
        col("ip_address", Utf8, "The address (NULL until allocated)", |v| {
            text(v, &["properties", "ipAddress"])
        }),
        col("allocation", Utf8, "Static or Dynamic", |v| {
            text(v, &["properties", "publicIPAllocationMethod"])
        }),
        col("sku", Utf8, "Basic or Standard", |v| text(v, &["sku", "name"])),
        col(
            "attached_to",
            Utf8,
            "Id of the IP configuration using it (a load balancer frontend, a NIC); NULL: unattached",
            |v| text(v, &["properties", "ipConfiguration", "id"]),
        ),
        col("fqdn", Utf8, "DNS name", |v| text(v, &["properties", "dnsSettings", "fqdn"])),
        col("tags", Map, "Tags", tags),
    ]);
    Spec {
        name: "public_ips",
        description: "Public IP addresses, one row per address",
        columns,
        narrowing: &[],
        fetch: listed!(
            "publicIPAddresses.listAll",
            "Microsoft.Network/publicIPAddresses",
            "2024-05-01"
        ),
    }
}

pub(crate) fn load_balancers() -> Spec<Value> {
    let mut columns: Vec<Col<Value>> = arm_columns!("Load balancer");
    columns.extend([
        col("sku", Utf8, "Basic or Standard", |v| {
            text(v, &["sku", "name"])
        }),
        col(
            "frontend_public_ips",
            List,
            "Ids of the public IPs of its frontends (join public_ips.id)",
            |v| {
                Cell::List(
                    at(v, &["properties", "frontendIPConfigurations"])
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|f| {
                            at(f, &["properties", "publicIPAddress", "id"]).and_then(Value::as_str)
                        })
                        .map(Cow::Borrowed)
                        .collect(),
                )
            },
        ),
        col(
            "frontend_ports",
            List,
            "Frontend ports of its load-balancing rules",
            |v| {
                Cell::List(
                    at(v, &["properties", "loadBalancingRules"])
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|r| {
                            at(r, &["properties", "frontendPort"]).and_then(Value::as_i64)
                        })
                        .map(|p| Cow::Owned(p.to_string()))
                        .collect(),
                )
            },
        ),
        col(
            "backend_pools",
            List,
            "Ids of its backend address pools",
            |v| ids(v, &["properties", "backendAddressPools"]),
        ),
        col("tags", Map, "Tags", tags),
    ]);
    Spec {
        name: "load_balancers",
        description: "Load balancers (AKS's `kubernetes` among them), one row per load balancer",
        columns,
        narrowing: &[],
        fetch: listed!(
            "loadBalancers.listAll",
            "Microsoft.Network/loadBalancers",
            "2024-05-01"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_is_one_row_per_source_and_port_range() {
        let group = serde_json::json!({"name": "nsg", "properties": {"securityRules": [
            {"name": "web", "properties": {"protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 100,
              "sourceAddressPrefixes": ["10.0.0.0/8", "Internet"], "destinationPortRanges": ["80", "8000-8100"]}},
            {"name": "any", "properties": {"protocol": "*", "access": "Deny", "direction": "Inbound", "priority": 4000,
              "sourceAddressPrefix": "*", "destinationPortRange": "*"}}]}});
        let rows = rule_rows(group);
        let shape: Vec<_> = rows
            .iter()
            .map(|r| (r.source.as_deref().unwrap_or(""), r.from_port, r.to_port))
            .collect();
        assert_eq!(
            shape,
            vec![
                ("10.0.0.0/8", Some(80), Some(80)),
                ("Internet", Some(80), Some(80)),
                ("10.0.0.0/8", Some(8000), Some(8100)),
                ("Internet", Some(8000), Some(8100)),
                ("*", Some(0), Some(65535)),
            ]
        );
    }
}
