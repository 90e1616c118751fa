//! Networking tables: services, service_ports, endpoints, ingresses, ingress_rules,
//! ingress_tls, network_policies; and Ingress host wildcard matching.

use std::borrow::Cow;

use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _, Value};

use super::TableDef;
use super::common::{object_table, parent_columns};
use super::model::{
    Cell, Child, Col, ColType as T, Row, RowSource, array_at, at, col, item, obj, str_at,
};
use crate::kubernetes::resource::{ResourceRef, builtin};

pub(crate) fn tables() -> Vec<TableDef> {
    vec![
        services(),
        service_ports(),
        endpoints(),
        ingresses(),
        ingress_rules(),
        ingress_tls(),
        network_policies(),
    ]
}

static NULL: Value = Value::new();

/// Whether some host name satisfies both `a` and `b`, with Kubernetes Ingress
/// wildcard semantics: `*.example.com` stands for exactly one extra DNS label
/// (`a.example.com`, not `example.com` nor `a.b.example.com`). Comparison is
/// case-insensitive and ignores a trailing dot. The relation is symmetric, so
/// two wildcards overlap exactly when they are equal, and an empty string
/// (an Ingress rule without host, which serves every host) matches anything.
pub fn host_matches(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    let (a, b) = (norm(a), norm(b));
    if a.is_empty() || b.is_empty() {
        return true;
    }
    a == b || wildcard_covers(&a, &b) || wildcard_covers(&b, &a)
}

#[cfg(test)]
mod tls_tests {
    use super::tls_covers;

    #[test]
    fn tls_coverage_is_directional() {
        assert!(tls_covers("*.example.com", "a.example.com"));
        assert!(tls_covers("A.example.com.", "a.example.com"));
        assert!(!tls_covers("a.example.com", "*.example.com"));
        assert!(!tls_covers("*.example.com", "a.b.example.com"));
        assert!(!tls_covers("a.example.com", ""));
        assert!(!tls_covers("", "a.example.com"));
        assert!(tls_covers("*.example.com", "*.example.com"));
    }
}

/// Whether a TLS entry's host serves a rule's host over TLS. Unlike
/// [`host_matches`] this is directional: `*.example.com` in `tls` covers
/// the rule host `a.example.com`, but a certificate for `a.example.com`
/// does not cover the rule host `*.example.com`, and a rule without a host
/// (every host) is covered by no named entry.
pub fn tls_covers(tls_host: &str, rule_host: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    let (tls, rule) = (norm(tls_host), norm(rule_host));
    !tls.is_empty() && !rule.is_empty() && (tls == rule || wildcard_covers(&tls, &rule))
}

/// `*.suffix` covers a concrete `label.suffix` (one label, no further dots).
fn wildcard_covers(pattern: &str, host: &str) -> bool {
    let Some(suffix) = pattern.strip_prefix("*.") else {
        return false;
    };
    host.strip_suffix(suffix)
        .and_then(|p| p.strip_suffix('.'))
        .is_some_and(|label| !label.is_empty() && !label.contains(['.', '*']))
}

/// Annotation → values (lower-case; empty list: any value but `false`) that make a
/// LoadBalancer Service internal on the clouds kq knows.
const INTERNAL_LB_ANNOTATIONS: &[(&str, &[&str])] = &[
    ("service.beta.kubernetes.io/aws-load-balancer-internal", &[]),
    (
        "service.beta.kubernetes.io/aws-load-balancer-scheme",
        &["internal"],
    ),
    ("networking.gke.io/load-balancer-type", &["internal"]),
    ("cloud.google.com/load-balancer-type", &["internal"]),
    (
        "service.beta.kubernetes.io/azure-load-balancer-internal",
        &["true"],
    ),
    (
        "service.beta.kubernetes.io/openstack-internal-load-balancer",
        &["true"],
    ),
    (
        "service.beta.kubernetes.io/oci-load-balancer-internal",
        &["true"],
    ),
    (
        "oci-network-load-balancer.oraclecloud.com/internal",
        &["true"],
    ),
    (
        "service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type",
        &["private"],
    ),
    (
        "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type",
        &["intranet"],
    ),
    (
        "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid",
        &[],
    ),
    (
        "service.beta.kubernetes.io/cce-load-balancer-internal-vpc",
        &["true"],
    ),
];

/// The Service's load balancer is internal per a known cloud annotation.
pub(crate) fn internal_load_balancer(svc: &Value) -> bool {
    let Some(ann) = at(svc, &["metadata", "annotations"]).and_then(Value::as_object) else {
        return false;
    };
    INTERNAL_LB_ANNOTATIONS.iter().any(|(key, values)| {
        ann.get(key).and_then(Value::as_str).is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            if values.is_empty() {
                !v.is_empty() && v != "false"
            } else {
                values.contains(&v.as_str())
            }
        })
    })
}

fn lb_ingress<'a>(v: &'a Value, field: &str) -> Vec<Cow<'a, str>> {
    array_at(v, &["status", "loadBalancer", "ingress"])
        .iter()
        .filter_map(|i| i.get(field).and_then(Value::as_str))
        .map(Cow::Borrowed)
        .collect()
}

/// The first load balancer hostname of a Service or Ingress: a plain
/// column, so it equi-joins with `aws.elbv2_load_balancers.dns_name`.
fn load_balancer_hostname() -> Col {
    col(
        "load_balancer_hostname",
        T::Utf8,
        "First load balancer hostname; on AWS the load balancer's DNS name (joins aws.elbv2_load_balancers.dns_name)",
        |r| match lb_ingress(r.obj, "hostname").into_iter().next() {
            Some(host) => Cell::Str(host),
            None => Cell::Null,
        },
    )
}

fn services() -> TableDef {
    TableDef::new(
        "services",
        "Services",
        vec![builtin::services()],
        RowSource::Object,
        object_table(vec![
            obj(
                "type",
                T::Utf8,
                "ClusterIP, NodePort, LoadBalancer or ExternalName",
                &["spec", "type"],
            ),
            obj(
                "cluster_ip",
                T::Utf8,
                "Cluster IP (None for headless)",
                &["spec", "clusterIP"],
            ),
            obj(
                "external_ips",
                T::List,
                "spec.externalIPs",
                &["spec", "externalIPs"],
            ),
            obj(
                "external_name",
                T::Utf8,
                "DNS name of an ExternalName service",
                &["spec", "externalName"],
            ),
            obj(
                "selector",
                T::Map,
                "Pod selector (map; use selector_matches(selector, labels))",
                &["spec", "selector"],
            ),
            col(
                "load_balancer_hostnames",
                T::List,
                "Hostnames of the provisioned load balancer",
                |r| Cell::List(lb_ingress(r.obj, "hostname")),
            ),
            load_balancer_hostname(),
            col(
                "load_balancer_ips",
                T::List,
                "IPs of the provisioned load balancer",
                |r| Cell::List(lb_ingress(r.obj, "ip")),
            ),
            obj(
                "load_balancer_source_ranges",
                T::List,
                "CIDRs allowed to reach the load balancer (empty: everyone)",
                &["spec", "loadBalancerSourceRanges"],
            ),
            obj(
                "load_balancer_class",
                T::Utf8,
                "Load balancer implementation class",
                &["spec", "loadBalancerClass"],
            ),
            col(
                "internal",
                T::Boolean,
                "Annotated as an internal (private) load balancer for AWS, GCP, Azure, OpenStack, OCI, IBM, Alibaba or Tencent",
                |r| Cell::Bool(internal_load_balancer(r.obj)),
            ),
            obj(
                "external_traffic_policy",
                T::Utf8,
                "Cluster or Local",
                &["spec", "externalTrafficPolicy"],
            ),
            obj(
                "internal_traffic_policy",
                T::Utf8,
                "Cluster or Local",
                &["spec", "internalTrafficPolicy"],
            ),
            obj(
                "session_affinity",
                T::Utf8,
                "None or ClientIP",
                &["spec", "sessionAffinity"],
            ),
            obj(
                "ports",
                T::Json,
                "Ports (JSON array; see service_ports)",
                &["spec", "ports"],
            ),
        ]),
        vec![
            ("name", "metadata.name"),
            ("type", "spec.type"),
            ("cluster_ip", "spec.clusterIP"),
        ],
    )
}

fn explode_array<'a>(v: &'a Value, path: &[&str], out: &mut Vec<Child<'a>>) {
    for x in array_at(v, path) {
        out.push(Child {
            item: x,
            aux: None,
            pod_spec: None,
            tag: "",
        });
    }
}

fn explode_service_ports<'a>(v: &'a Value, _: &ResourceRef, out: &mut Vec<Child<'a>>) {
    explode_array(v, &["spec", "ports"], out);
}

fn service_ports() -> TableDef {
    let mut cols = parent_columns("service_name", "Service name", "service_uid", "Service UID");
    cols.extend([
        obj("service_type", T::Utf8, "Service type", &["spec", "type"]),
        item("name", T::Utf8, "Port name", &["name"]),
        super::common::port_protocol(),
        item("port", T::Int64, "Service port", &["port"]),
        item(
            "target_port",
            T::Utf8,
            "Target port on the pods (number or name)",
            &["targetPort"],
        ),
        item(
            "node_port",
            T::Int64,
            "Node port (NodePort and LoadBalancer)",
            &["nodePort"],
        ),
        item(
            "app_protocol",
            T::Utf8,
            "Application protocol",
            &["appProtocol"],
        ),
    ]);
    TableDef::new(
        "service_ports",
        "One row per Service port",
        vec![builtin::services()],
        RowSource::Explode(explode_service_ports),
        cols,
        vec![
            ("service_name", "metadata.name"),
            ("service_type", "spec.type"),
        ],
    )
}

fn endpoint_ips<'a>(v: &'a Value, field: &str) -> Vec<Cow<'a, str>> {
    array_at(v, &["subsets"])
        .iter()
        .flat_map(|s| array_at(s, &[field]))
        .filter_map(|a| a.get("ip").and_then(Value::as_str))
        .map(Cow::Borrowed)
        .collect()
}

fn endpoints() -> TableDef {
    TableDef::new(
        "endpoints",
        "Endpoints (core/v1)",
        vec![builtin::endpoints()],
        RowSource::Object,
        object_table(vec![
            col("ready_addresses", T::List, "IPs of ready endpoints", |r| {
                Cell::List(endpoint_ips(r.obj, "addresses"))
            }),
            col(
                "not_ready_addresses",
                T::List,
                "IPs of endpoints that are not ready",
                |r| Cell::List(endpoint_ips(r.obj, "notReadyAddresses")),
            ),
            col("ready_count", T::Int64, "Number of ready endpoints", |r| {
                Cell::Int(endpoint_ips(r.obj, "addresses").len() as i64)
            }),
            col(
                "target_pods",
                T::List,
                "Names of the pods behind ready endpoints",
                |r| {
                    Cell::List(
                        array_at(r.obj, &["subsets"])
                            .iter()
                            .flat_map(|s| array_at(s, &["addresses"]))
                            .filter_map(|a| a.get("targetRef"))
                            .filter(|t| t.get("kind").and_then(Value::as_str) == Some("Pod"))
                            .filter_map(|t| t.get("name").and_then(Value::as_str))
                            .map(Cow::Borrowed)
                            .collect(),
                    )
                },
            ),
            obj("subsets", T::Json, "Subsets (JSON)", &["subsets"]),
        ]),
        vec![("name", "metadata.name")],
    )
}

fn ingress_class(v: &Value) -> Option<&str> {
    str_at(v, &["spec", "ingressClassName"]).or_else(|| {
        str_at(
            v,
            &["metadata", "annotations", "kubernetes.io/ingress.class"],
        )
    })
}

fn ingress_class_col() -> Col {
    col(
        "ingress_class",
        T::Utf8,
        "Ingress class (spec.ingressClassName, else the kubernetes.io/ingress.class annotation)",
        |r| Cell::str(ingress_class(r.obj)),
    )
}

fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<Cow<'a, str>> {
    let mut out: Vec<Cow<'a, str>> = Vec::new();
    for v in values {
        if !out.iter().any(|x| x == v) {
            out.push(Cow::Borrowed(v));
        }
    }
    out
}

fn tls_hosts(v: &Value) -> impl Iterator<Item = &str> {
    array_at(v, &["spec", "tls"])
        .iter()
        .flat_map(|t| array_at(t, &["hosts"]))
        .filter_map(Value::as_str)
}

fn ingresses() -> TableDef {
    TableDef::new(
        "ingresses",
        "Ingresses",
        vec![builtin::ingresses()],
        RowSource::Object,
        object_table(vec![
            col(
                "class",
                T::Utf8,
                "Ingress class (spec.ingressClassName, else the kubernetes.io/ingress.class annotation)",
                |r| Cell::str(ingress_class(r.obj)),
            ),
            col(
                "hosts",
                T::List,
                "Distinct hosts of the rules, in order",
                |r| {
                    Cell::List(distinct(
                        array_at(r.obj, &["spec", "rules"])
                            .iter()
                            .filter_map(|x| x.get("host").and_then(Value::as_str)),
                    ))
                },
            ),
            col("tls", T::Boolean, "Has at least one TLS entry", |r| {
                Cell::Bool(!array_at(r.obj, &["spec", "tls"]).is_empty())
            }),
            col("tls_hosts", T::List, "Hosts covered by TLS entries", |r| {
                Cell::List(distinct(tls_hosts(r.obj)))
            }),
            col(
                "allow_http",
                T::Boolean,
                "Plain HTTP allowed: false only when annotation kubernetes.io/ingress.allow-http is \"false\"",
                |r| {
                    Cell::Bool(
                        str_at(
                            r.obj,
                            &[
                                "metadata",
                                "annotations",
                                "kubernetes.io/ingress.allow-http",
                            ],
                        )
                        .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false")),
                    )
                },
            ),
            obj(
                "default_backend_service",
                T::Utf8,
                "Service of the default backend",
                &["spec", "defaultBackend", "service", "name"],
            ),
            col(
                "load_balancer_hostnames",
                T::List,
                "Hostnames of the provisioned load balancer",
                |r| Cell::List(lb_ingress(r.obj, "hostname")),
            ),
            load_balancer_hostname(),
            col(
                "load_balancer_ips",
                T::List,
                "IPs of the provisioned load balancer",
                |r| Cell::List(lb_ingress(r.obj, "ip")),
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}

/// One row per rule × path; a rule without paths gives one row; the default backend one row (tag `default`).
fn explode_ingress_rules<'a>(v: &'a Value, _: &ResourceRef, out: &mut Vec<Child<'a>>) {
    if let Some(backend) = at(v, &["spec", "defaultBackend"]).filter(|b| !b.is_null()) {
        out.push(Child {
            item: backend,
            aux: None,
            pod_spec: None,
            tag: "default",
        });
    }
    for rule in array_at(v, &["spec", "rules"]) {
        let paths = array_at(rule, &["http", "paths"]);
        if paths.is_empty() {
            out.push(Child {
                item: &NULL,
                aux: Some(rule),
                pod_spec: None,
                tag: "",
            });
        }
        for p in paths {
            out.push(Child {
                item: p,
                aux: Some(rule),
                pod_spec: None,
                tag: "",
            });
        }
    }
}

/// The backend of a rule row (the path's `backend`) or of the default-backend row (the item).
fn backend<'a>(r: &Row<'a>) -> Option<&'a Value> {
    if r.tag == "default" {
        Some(r.item)
    } else {
        r.item.get("backend")
    }
}

fn ingress_rules() -> TableDef {
    let mut cols = parent_columns("ingress_name", "Ingress name", "ingress_uid", "Ingress UID");
    cols.extend([
        ingress_class_col(),
        col(
            "host",
            T::Utf8,
            "Host of the rule (null: every host; see host_matches)",
            |r| Cell::raw(r.aux.and_then(|a| a.get("host"))),
        ),
        item("path", T::Utf8, "Path", &["path"]),
        item(
            "path_type",
            T::Utf8,
            "Exact, Prefix or ImplementationSpecific",
            &["pathType"],
        ),
        col("backend_service", T::Utf8, "Backend Service name", |r| {
            Cell::raw(backend(r).and_then(|b| at(b, &["service", "name"])))
        }),
        col(
            "backend_port",
            T::Int64,
            "Backend Service port number",
            |r| Cell::raw(backend(r).and_then(|b| at(b, &["service", "port", "number"]))),
        ),
        col(
            "backend_port_name",
            T::Utf8,
            "Backend Service port name",
            |r| Cell::raw(backend(r).and_then(|b| at(b, &["service", "port", "name"]))),
        ),
        col(
            "backend_resource_kind",
            T::Utf8,
            "Kind of a resource backend",
            |r| Cell::raw(backend(r).and_then(|b| at(b, &["resource", "kind"]))),
        ),
        col(
            "default_backend",
            T::Boolean,
            "The row is the Ingress's default backend",
            |r| Cell::Bool(r.tag == "default"),
        ),
        col(
            "tls",
            T::Boolean,
            "The rule's host is covered by a TLS entry (a wildcard entry covers one label; a rule without host is never covered)",
            |r| {
                let host = r.aux.and_then(|a| a.get("host")).and_then(Value::as_str);
                Cell::Bool(host.is_some_and(|h| tls_hosts(r.obj).any(|t| tls_covers(t, h))))
            },
        ),
    ]);
    TableDef::new(
        "ingress_rules",
        "One row per Ingress host × path, with its backend",
        vec![builtin::ingresses()],
        RowSource::Explode(explode_ingress_rules),
        cols,
        vec![("ingress_name", "metadata.name")],
    )
}

/// One row per TLS entry × host; an entry without hosts gives one row.
fn explode_ingress_tls<'a>(v: &'a Value, _: &ResourceRef, out: &mut Vec<Child<'a>>) {
    for entry in array_at(v, &["spec", "tls"]) {
        let hosts = array_at(entry, &["hosts"]);
        if hosts.is_empty() {
            out.push(Child {
                item: entry,
                aux: None,
                pod_spec: None,
                tag: "",
            });
        }
        for h in hosts {
            out.push(Child {
                item: entry,
                aux: Some(h),
                pod_spec: None,
                tag: "",
            });
        }
    }
}

fn ingress_tls() -> TableDef {
    let mut cols = parent_columns("ingress_name", "Ingress name", "ingress_uid", "Ingress UID");
    cols.extend([
        ingress_class_col(),
        col("host", T::Utf8, "Host covered by the certificate", |r| {
            Cell::raw(r.aux)
        }),
        item(
            "secret_name",
            T::Utf8,
            "Secret holding the certificate",
            &["secretName"],
        ),
    ]);
    TableDef::new(
        "ingress_tls",
        "One row per Ingress TLS entry × host",
        vec![builtin::ingresses()],
        RowSource::Explode(explode_ingress_tls),
        cols,
        vec![("ingress_name", "metadata.name")],
    )
}

/// Policy types as written, else as the API server defaults them.
fn policy_types(v: &Value) -> Vec<Cow<'_, str>> {
    let given = array_at(v, &["spec", "policyTypes"]);
    if !given.is_empty() {
        return given
            .iter()
            .filter_map(Value::as_str)
            .map(Cow::Borrowed)
            .collect();
    }
    let mut types = vec![Cow::Borrowed("Ingress")];
    if !array_at(v, &["spec", "egress"]).is_empty() {
        types.push(Cow::Borrowed("Egress"));
    }
    types
}

fn selector_is_empty(sel: Option<&Value>) -> bool {
    match sel {
        None => true,
        Some(s) if s.is_null() => true,
        Some(s) => {
            let empty = |k: &str| match s.get(k) {
                None => true,
                Some(v) if v.is_null() => true,
                Some(v) => match (v.as_object(), v.as_array()) {
                    (Some(m), _) => m.is_empty(),
                    (_, Some(a)) => a.is_empty(),
                    _ => false,
                },
            };
            empty("matchLabels") && empty("matchExpressions")
        }
    }
}

fn denies_all(v: &Value, kind: &str, rules: &str) -> bool {
    policy_types(v).iter().any(|t| t == kind) && array_at(v, &["spec", rules]).is_empty()
}

fn network_policies() -> TableDef {
    TableDef::new(
        "network_policies",
        "NetworkPolicies",
        vec![builtin::networkpolicies()],
        RowSource::Object,
        object_table(vec![
            obj(
                "pod_selector",
                T::Json,
                "Pods the policy applies to (JSON LabelSelector; use with selector_matches)",
                &["spec", "podSelector"],
            ),
            col(
                "selects_all_pods",
                T::Boolean,
                "The pod selector is empty: the policy applies to every pod of the namespace",
                |r| Cell::Bool(selector_is_empty(at(r.obj, &["spec", "podSelector"]))),
            ),
            col(
                "policy_types",
                T::List,
                "Ingress and/or Egress (defaulted as the API server does when unset)",
                |r| Cell::List(policy_types(r.obj)),
            ),
            col(
                "denies_all_ingress",
                T::Boolean,
                "Governs ingress and allows none (default deny for the selected pods)",
                |r| Cell::Bool(denies_all(r.obj, "Ingress", "ingress")),
            ),
            col(
                "denies_all_egress",
                T::Boolean,
                "Governs egress and allows none",
                |r| Cell::Bool(denies_all(r.obj, "Egress", "egress")),
            ),
            obj(
                "ingress",
                T::Json,
                "Ingress rules (JSON)",
                &["spec", "ingress"],
            ),
            obj(
                "egress",
                T::Json,
                "Egress rules (JSON)",
                &["spec", "egress"],
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_rs::json;

    #[test]
    fn host_wildcards_follow_ingress_semantics() {
        assert!(host_matches("foo.example.com", "foo.example.com"));
        assert!(host_matches("Foo.Example.com.", "foo.example.com"));
        assert!(!host_matches("foo.example.com", "bar.example.com"));
        assert!(host_matches("*.example.com", "foo.example.com"));
        assert!(host_matches("foo.example.com", "*.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "fooexample.com"));
        assert!(host_matches("*.example.com", "*.example.com"));
        assert!(!host_matches("*.example.com", "*.a.example.com"));
        assert!(!host_matches("*.a.com", "*.b.com"));
        assert!(host_matches("", "anything.com"));
        assert!(host_matches("*.example.com", ""));
    }

    #[test]
    fn internal_load_balancer_annotations() {
        let svc = |k: &str, v: &str| json!({"metadata": {"annotations": {k: v}}});
        assert!(internal_load_balancer(&svc(
            "service.beta.kubernetes.io/aws-load-balancer-scheme",
            "internal"
        )));
        assert!(!internal_load_balancer(&svc(
            "service.beta.kubernetes.io/aws-load-balancer-scheme",
            "internet-facing"
        )));
        assert!(internal_load_balancer(&svc(
            "service.beta.kubernetes.io/aws-load-balancer-internal",
            "0.0.0.0/0"
        )));
        assert!(!internal_load_balancer(&svc(
            "service.beta.kubernetes.io/aws-load-balancer-internal",
            "false"
        )));
        assert!(internal_load_balancer(&svc(
            "networking.gke.io/load-balancer-type",
            "Internal"
        )));
        assert!(internal_load_balancer(&svc(
            "service.beta.kubernetes.io/azure-load-balancer-internal",
            "true"
        )));
        assert!(!internal_load_balancer(&json!({"metadata": {}})));
        assert!(!internal_load_balancer(&json!(null)));
    }

    #[test]
    fn policy_types_default_like_the_api_server() {
        let p = json!({"spec": {"podSelector": {}, "egress": [{}]}});
        assert_eq!(policy_types(&p), vec!["Ingress", "Egress"]);
        assert!(denies_all(&p, "Ingress", "ingress"));
        assert!(!denies_all(&p, "Egress", "egress"));
        assert!(selector_is_empty(p.pointer(&["spec", "podSelector"])));
        assert!(!selector_is_empty(Some(
            &json!({"matchLabels": {"a": "b"}})
        )));
    }
}
