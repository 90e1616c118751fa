//! Tests of the table catalog: schema conventions, decoding of realistic and malformed objects,
//! projection, secrets handling, and DataFusion access to map columns.

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, BooleanArray, Int64Array, ListArray, MapArray, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use serde_json::{Value, json};

use super::*;

impl TableDef {
    /// `decode` for fixtures written with `serde_json::json!`.
    fn decode_json(
        &self,
        cluster: &str,
        source: &ResourceRef,
        items: &[Value],
        projection: Option<&[usize]>,
    ) -> Result<RecordBatch, DecodeError> {
        let items: Vec<sonic_rs::Value> = items
            .iter()
            .map(|v| sonic_rs::to_value(v).expect("fixture converts"))
            .collect();
        self.decode(cluster, source, &items, projection)
    }
}

fn table(name: &str) -> TableDef {
    builtin_tables(TableOptions::default())
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name}"))
}

fn decode_all(t: &TableDef, items: &[Value]) -> RecordBatch {
    t.decode_json("kind-a", &t.sources[0], items, None).unwrap()
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a Arc<dyn Array> {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn strs(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = col(b, name).as_any().downcast_ref::<StringArray>().unwrap();
    a.iter().map(|v| v.map(str::to_string)).collect()
}

fn ints(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let a = col(b, name).as_any().downcast_ref::<Int64Array>().unwrap();
    a.iter().collect()
}

fn bools(b: &RecordBatch, name: &str) -> Vec<Option<bool>> {
    let a = col(b, name)
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap();
    a.iter().collect()
}

fn list(b: &RecordBatch, name: &str, row: usize) -> Option<Vec<String>> {
    let a = col(b, name).as_any().downcast_ref::<ListArray>().unwrap();
    if a.is_null(row) {
        return None;
    }
    let v = a.value(row);
    Some(
        v.as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect(),
    )
}

fn map_get(b: &RecordBatch, name: &str, row: usize, key: &str) -> Option<String> {
    let a = col(b, name).as_any().downcast_ref::<MapArray>().unwrap();
    if a.is_null(row) {
        return None;
    }
    let entries = a.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    (0..keys.len())
        .find(|&i| keys.value(i) == key)
        .map(|i| values.value(i).to_string())
}

const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn pod() -> Value {
    json!({
        "metadata": {
            "name": "web-7d9f8-abcde", "namespace": "shop", "uid": "pod-uid-1",
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": {"app": "web", "pod-template-hash": "7d9f8"},
            "annotations": {"note": "x"},
            "managedFields": [{"manager": "kubectl"}],
            "ownerReferences": [
                {"kind": "Other", "name": "not-controller"},
                {"kind": "ReplicaSet", "name": "web-7d9f8", "controller": true}
            ]
        },
        "spec": {
            "nodeName": "node-1", "serviceAccountName": "web", "hostPID": true,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "h", "hostPath": {"path": "/var/run"}}, {"name": "e", "emptyDir": {}}],
            "initContainers": [{"name": "init", "image": "busybox:1.36"}],
            "containers": [
                {"name": "app", "image": "nginx",
                 "resources": {"requests": {"cpu": "100m", "memory": "129e6"},
                               "limits": {"cpu": "1.5", "memory": "1.5Gi"}},
                 "securityContext": {"privileged": true, "runAsUser": 0,
                                     "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}},
                 "readinessProbe": {"httpGet": {"path": "/"}},
                 "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 53, "protocol": "UDP", "hostPort": 53}],
                 "env": [{"name": "A", "value": "1"},
                         {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]},
                {"name": "sidecar", "image": format!("quay.io/x/y@{SHA}"),
                 "resources": {"limits": {"cpu": "bogus", "memory": "500M"}}}
            ],
            "ephemeralContainers": [{"name": "debug", "image": "localhost:5000/tools:1.2"}]
        },
        "status": {
            "phase": "Running", "podIP": "10.0.0.5", "hostIP": "192.168.1.10", "qosClass": "Burstable",
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
            "initContainerStatuses": [{"name": "init", "restartCount": 0, "ready": false,
                                       "state": {"terminated": {"reason": "Completed"}}}],
            "containerStatuses": [
                {"name": "sidecar", "restartCount": 1, "ready": true, "state": {"running": {}}},
                {"name": "app", "restartCount": 3, "ready": false,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"reason": "OOMKilled"}}}
            ]
        }
    })
}

#[test]
fn every_table_follows_the_schema_conventions() {
    let tables = builtin_tables(TableOptions::default());
    let mut names = std::collections::HashSet::new();
    for t in &tables {
        assert!(names.insert(t.name.clone()), "duplicate table {}", t.name);
        assert!(
            t.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{} is not snake_case",
            t.name
        );
        assert!(!t.description.is_empty());
        assert!(!t.sources.is_empty());
        let schema = t.schema();
        let first = schema.field(0);
        assert_eq!(first.name(), "cluster", "{}", t.name);
        assert!(!first.is_nullable());
        assert_eq!(schema.field(1).name(), "namespace", "{}", t.name);
        let mut cols = std::collections::HashSet::new();
        for f in schema.fields() {
            assert!(
                cols.insert(f.name().clone()),
                "{}.{} twice",
                t.name,
                f.name()
            );
            let desc = f.metadata().get("description");
            assert!(
                desc.is_some_and(|d| !d.is_empty() && !d.contains('\n')),
                "{}.{} lacks a one-line description",
                t.name,
                f.name()
            );
        }
        if t.pushdown.one_row_per_object {
            let expected = [
                "cluster",
                "namespace",
                "name",
                "uid",
                "labels",
                "annotations",
                "created",
                "owner_kind",
                "owner_name",
            ];
            let got: Vec<&str> = schema
                .fields()
                .iter()
                .take(expected.len())
                .map(|f| f.name().as_str())
                .collect();
            assert_eq!(got, expected, "{}", t.name);
            for json_col in ["spec", "status"] {
                let f = schema.field_with_name(json_col).unwrap();
                assert_eq!(
                    f.metadata().get("kq.json").map(String::as_str),
                    Some("true")
                );
            }
            assert_eq!(t.pushdown.labels_column, Some("labels"));
            assert!(
                t.pushdown
                    .field_selectors
                    .contains(&("name", "metadata.name"))
            );
        }
        for (column, _) in &t.pushdown.field_selectors {
            assert!(
                schema.field_with_name(column).is_ok(),
                "{}.{column}",
                t.name
            );
        }
        if let Some(c) = t.pushdown.labels_column {
            assert!(matches!(
                schema.field_with_name(c).unwrap().data_type(),
                DataType::Map(_, _)
            ));
        }
        assert_eq!(
            t.pushdown.namespace_column.is_some(),
            t.sources.iter().any(|s| s.namespaced),
            "{}",
            t.name
        );
    }
    for expected in [
        "namespaces",
        "nodes",
        "pods",
        "services",
        "endpoints",
        "config_maps",
        "secrets",
        "service_accounts",
        "events",
        "persistent_volumes",
        "persistent_volume_claims",
        "resource_quotas",
        "limit_ranges",
        "deployments",
        "replica_sets",
        "stateful_sets",
        "daemon_sets",
        "jobs",
        "cron_jobs",
        "ingresses",
        "network_policies",
        "roles",
        "cluster_roles",
        "role_bindings",
        "cluster_role_bindings",
        "pod_disruption_budgets",
        "horizontal_pod_autoscalers",
        "storage_classes",
        "custom_resource_definitions",
        "containers",
        "container_ports",
        "service_ports",
        "ingress_rules",
        "ingress_tls",
        "role_rules",
        "role_binding_subjects",
        "node_conditions",
        "pod_conditions",
        "workload_containers",
    ] {
        assert!(names.contains(expected), "missing table {expected}");
    }
    let aliases: Vec<&String> = tables.iter().flat_map(|t| &t.aliases).collect();
    assert!(aliases.iter().all(|a| !names.contains(*a)), "{aliases:?}");
    let alias_set: std::collections::HashSet<_> = aliases.iter().collect();
    assert_eq!(alias_set.len(), aliases.len(), "{aliases:?}");
    assert_eq!(table("config_maps").aliases, ["configmaps"]);
    assert_eq!(
        table("cluster_role_bindings").aliases,
        ["clusterrolebindings"]
    );
    assert!(table("containers").aliases.is_empty());
    assert!(table("pods").aliases.is_empty());
}

#[test]
fn malformed_objects_never_fail_a_page() {
    let odd = vec![
        json!({}),
        json!(null),
        json!(42),
        json!("text"),
        json!({"metadata": "not an object", "spec": [], "status": 7}),
        json!({"metadata": {"name": 5, "labels": {"a": 1, "b": null}, "creationTimestamp": "yesterday",
                             "ownerReferences": "x"},
               "spec": {"containers": [{"name": "c", "image": "UPPER/Case:bad tag",
                                        "resources": {"limits": {"cpu": {}, "memory": "lots"}},
                                        "securityContext": {"privileged": "yes", "runAsUser": "root"},
                                        "ports": [{"containerPort": "eighty"}]}],
                        "template": {"spec": {"containers": [7, {"image": null}]}},
                        "rules": [{"http": {"paths": [null, {"backend": 3}]}}, 5],
                        "ports": [{"port": "x"}], "tls": [{"hosts": [null, 1]}]},
               "rules": [{"verbs": "get"}, null],
               "subjects": [null, {"kind": 1}],
               "status": {"conditions": [{"type": 1}, "x"], "capacity": {"cpu": "12x"}}}),
    ];
    for t in builtin_tables(TableOptions {
        show_secret_values: true,
    }) {
        for source in &t.sources {
            let b = t.decode_json("c", source, &odd, None).unwrap();
            assert_eq!(b.schema(), t.schema(), "{}", t.name);
            if t.pushdown.one_row_per_object {
                assert_eq!(b.num_rows(), odd.len(), "{}", t.name);
            }
            let empty = t.decode_json("c", source, &[], None).unwrap();
            assert_eq!(empty.num_rows(), 0);
        }
    }
    let g = generic_table(
        "widgets",
        ResourceRef::new("x.io", "v1", "Widget", "widgets", true),
    );
    assert_eq!(
        g.decode_json("c", &g.sources[0], &odd, None)
            .unwrap()
            .num_rows(),
        odd.len()
    );
}

#[test]
fn pods_decode_typed_columns() {
    let t = table("pods");
    let b = decode_all(&t, &[pod()]);
    assert_eq!(strs(&b, "cluster"), vec![Some("kind-a".into())]);
    assert_eq!(strs(&b, "namespace"), vec![Some("shop".into())]);
    assert_eq!(strs(&b, "name"), vec![Some("web-7d9f8-abcde".into())]);
    assert_eq!(strs(&b, "owner_kind"), vec![Some("ReplicaSet".into())]);
    assert_eq!(strs(&b, "owner_name"), vec![Some("web-7d9f8".into())]);
    assert_eq!(strs(&b, "workload_kind"), vec![Some("Deployment".into())]);
    assert_eq!(strs(&b, "workload_name"), vec![Some("web".into())]);
    assert_eq!(strs(&b, "phase"), vec![Some("Running".into())]);
    assert_eq!(strs(&b, "node_name"), vec![Some("node-1".into())]);
    assert_eq!(ints(&b, "restarts"), vec![Some(4)]);
    assert_eq!(bools(&b, "ready"), vec![Some(true)]);
    assert_eq!(bools(&b, "host_pid"), vec![Some(true)]);
    assert_eq!(bools(&b, "host_network"), vec![Some(false)]);
    assert_eq!(map_get(&b, "labels", 0, "app").as_deref(), Some("web"));
    let created = col(&b, "created")
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(created.value(0), 1_714_557_600_000_000);
    assert_eq!(
        created.data_type(),
        &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()))
    );
    let spec: Value = serde_json::from_str(strs(&b, "spec")[0].as_deref().unwrap()).unwrap();
    assert_eq!(spec["nodeName"], "node-1");
    assert_eq!(t.pushdown.namespace_column, Some("namespace"));
    assert!(
        t.pushdown
            .field_selectors
            .contains(&("phase", "status.phase"))
    );
    assert!(
        t.pushdown
            .field_selectors
            .contains(&("node_name", "spec.nodeName"))
    );
}

#[test]
fn containers_flatten_every_container_type() {
    let t = table("containers");
    let b = decode_all(&t, &[pod()]);
    assert_eq!(b.num_rows(), 4);
    assert_eq!(
        strs(&b, "name"),
        ["init", "app", "sidecar", "debug"].map(|s| Some(s.to_string()))
    );
    assert_eq!(
        strs(&b, "container_type"),
        ["init", "regular", "regular", "ephemeral"].map(|s| Some(s.to_string()))
    );
    assert_eq!(strs(&b, "pod_name")[1].as_deref(), Some("web-7d9f8-abcde"));
    assert_eq!(strs(&b, "workload_name")[1].as_deref(), Some("web"));
    assert_eq!(map_get(&b, "pod_labels", 1, "app").as_deref(), Some("web"));
    // Images, normalized like the runtime.
    assert_eq!(
        strs(&b, "image_ref"),
        vec![
            Some("docker.io/library/busybox:1.36".into()),
            Some("docker.io/library/nginx:latest".into()),
            Some(format!("quay.io/x/y@{SHA}")),
            Some("localhost:5000/tools:1.2".into()),
        ]
    );
    assert_eq!(strs(&b, "registry")[3].as_deref(), Some("localhost:5000"));
    assert_eq!(strs(&b, "repository")[1].as_deref(), Some("library/nginx"));
    assert_eq!(strs(&b, "tag")[2], None);
    assert_eq!(strs(&b, "digest")[2].as_deref(), Some(SHA));
    // Quantities, with a malformed one as NULL.
    assert_eq!(ints(&b, "cpu_request"), vec![None, Some(100), None, None]);
    assert_eq!(ints(&b, "cpu_limit"), vec![None, Some(1500), None, None]);
    assert_eq!(ints(&b, "memory_request")[1], Some(129_000_000));
    assert_eq!(
        ints(&b, "memory_limit"),
        vec![None, Some(1_610_612_736), Some(500_000_000), None]
    );
    // Security context: container values win, pod values fill the gaps.
    assert_eq!(bools(&b, "privileged"), vec![None, Some(true), None, None]);
    assert_eq!(
        ints(&b, "run_as_user"),
        vec![Some(1000), Some(0), Some(1000), Some(1000)]
    );
    assert_eq!(bools(&b, "run_as_non_root"), vec![Some(true); 4]);
    assert_eq!(
        strs(&b, "seccomp_profile")[1].as_deref(),
        Some("RuntimeDefault")
    );
    assert_eq!(
        list(&b, "capabilities_add", 1),
        Some(vec!["NET_ADMIN".to_string()])
    );
    assert_eq!(
        list(&b, "capabilities_drop", 1),
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(list(&b, "capabilities_add", 0), None);
    assert_eq!(
        bools(&b, "readiness_probe"),
        vec![Some(false), Some(true), Some(false), Some(false)]
    );
    assert_eq!(bools(&b, "host_pid"), vec![Some(true); 4]);
    assert_eq!(
        list(&b, "host_path_volumes", 0),
        Some(vec!["/var/run".to_string()])
    );
    assert_eq!(list(&b, "host_ports", 1), Some(vec!["53".to_string()]));
    // Env shows the secret reference, never a value.
    let env: Value = serde_json::from_str(strs(&b, "env")[1].as_deref().unwrap()).unwrap();
    assert_eq!(env[1]["valueFrom"]["secretKeyRef"]["name"], "db");
    // Status, matched by name whatever the order.
    assert_eq!(
        ints(&b, "restart_count"),
        vec![Some(0), Some(3), Some(1), None]
    );
    assert_eq!(
        strs(&b, "state"),
        vec![
            Some("terminated".into()),
            Some("waiting".into()),
            Some("running".into()),
            None
        ]
    );
    assert_eq!(
        strs(&b, "state_reason")[1].as_deref(),
        Some("CrashLoopBackOff")
    );
    assert_eq!(
        strs(&b, "last_termination_reason")[1].as_deref(),
        Some("OOMKilled")
    );
    assert_eq!(t.pushdown.labels_column, Some("pod_labels"));
    assert!(!t.pushdown.one_row_per_object);
    assert!(
        t.pushdown
            .field_selectors
            .contains(&("pod_name", "metadata.name"))
    );
}

#[test]
fn projection_computes_only_what_is_asked() {
    let t = table("containers");
    let schema = t.schema();
    let idx = |n: &str| schema.index_of(n).unwrap();
    let projection = [idx("image_ref"), idx("cluster")];
    let b = t
        .decode_json("kind-a", &t.sources[0], &[pod(), pod()], Some(&projection))
        .unwrap();
    assert_eq!(b.num_rows(), 8);
    assert_eq!(b.schema().fields().len(), 2);
    assert_eq!(b.schema().field(0).name(), "image_ref");
    assert_eq!(b.schema(), Arc::new(schema.project(&projection).unwrap()));
    assert!(b.schema().field(0).metadata().contains_key("description"));

    let empty = t
        .decode_json("kind-a", &t.sources[0], &[pod(), pod()], Some(&[]))
        .unwrap();
    assert_eq!(empty.num_rows(), 8);
    assert_eq!(empty.num_columns(), 0);

    let err = t
        .decode_json("kind-a", &t.sources[0], &[pod()], Some(&[9999]))
        .unwrap_err();
    assert!(
        err.to_string().starts_with("decode table containers:"),
        "{err}"
    );
}

#[test]
fn workload_containers_cover_every_workload_kind() {
    let t = table("workload_containers");
    assert_eq!(
        t.sources
            .iter()
            .map(|s| s.kind.as_str())
            .collect::<Vec<_>>(),
        ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]
    );
    let deploy = json!({"metadata": {"name": "web", "namespace": "shop", "labels": {"team": "a"}},
        "spec": {"template": {"spec": {
            "securityContext": {"runAsNonRoot": true},
            "containers": [{"name": "app", "image": "bitnami/mysql:8.0",
                            "resources": {"limits": {"cpu": "2", "memory": "2Gi"}}}]}}}});
    let b = t.decode_json("c", &t.sources[0], &[deploy], None).unwrap();
    assert_eq!(strs(&b, "workload_kind"), vec![Some("Deployment".into())]);
    assert_eq!(strs(&b, "workload_name"), vec![Some("web".into())]);
    assert_eq!(strs(&b, "registry"), vec![Some("docker.io".into())]);
    assert_eq!(strs(&b, "repository"), vec![Some("bitnami/mysql".into())]);
    assert_eq!(ints(&b, "cpu_limit"), vec![Some(2000)]);
    assert_eq!(ints(&b, "memory_limit"), vec![Some(2 << 30)]);
    assert_eq!(bools(&b, "run_as_non_root"), vec![Some(true)]);
    assert_eq!(
        map_get(&b, "workload_labels", 0, "team").as_deref(),
        Some("a")
    );

    let cron = json!({"metadata": {"name": "nightly", "namespace": "ops"},
        "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"name": "prep", "image": "alpine"}],
            "containers": [{"name": "run", "image": "docker.io/library/mysql:8.4"}]}}}}}});
    let b = t.decode_json("c", &t.sources[4], &[cron], None).unwrap();
    assert_eq!(b.num_rows(), 2);
    assert_eq!(strs(&b, "workload_kind"), vec![Some("CronJob".into()); 2]);
    assert_eq!(
        strs(&b, "container_type"),
        vec![Some("init".into()), Some("regular".into())]
    );
    assert_eq!(strs(&b, "tag")[1].as_deref(), Some("8.4"));
    // The shared container columns are identical in both tables.
    let c = table("containers").schema();
    let w = t.schema();
    let start = c.index_of("container_type").unwrap();
    let wstart = w.index_of("container_type").unwrap();
    // Both end with the two origin columns every table has.
    let shared = w.fields().len() - 2 - wstart;
    for i in 0..shared {
        assert_eq!(c.field(start + i), w.field(wstart + i));
    }
}

#[test]
fn container_ports_rows() {
    let t = table("container_ports");
    let b = decode_all(&t, &[pod()]);
    assert_eq!(ints(&b, "container_port"), vec![Some(80), Some(53)]);
    assert_eq!(
        strs(&b, "protocol"),
        vec![Some("TCP".into()), Some("UDP".into())]
    );
    assert_eq!(ints(&b, "host_port"), vec![None, Some(53)]);
    assert_eq!(strs(&b, "container_name"), vec![Some("app".into()); 2]);
}

#[test]
fn services_and_ports() {
    let svc = json!({
        "metadata": {"name": "web", "namespace": "shop",
                     "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                 "loadBalancerSourceRanges": ["10.0.0.0/8"],
                 "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
                           {"port": 53, "protocol": "UDP", "targetPort": 5353}]},
        "status": {"loadBalancer": {"ingress": [{"hostname": "a.elb.amazonaws.com"}, {"ip": "1.2.3.4"}]}}
    });
    let plain = json!({"metadata": {"name": "api", "namespace": "shop"},
                       "spec": {"type": "LoadBalancer"}});
    let t = table("services");
    let b = decode_all(&t, &[svc.clone(), plain]);
    assert_eq!(bools(&b, "internal"), vec![Some(true), Some(false)]);
    assert_eq!(map_get(&b, "selector", 0, "app").as_deref(), Some("web"));
    assert_eq!(
        list(&b, "load_balancer_hostnames", 0),
        Some(vec!["a.elb.amazonaws.com".to_string()])
    );
    assert_eq!(
        list(&b, "load_balancer_ips", 0),
        Some(vec!["1.2.3.4".to_string()])
    );
    assert_eq!(
        list(&b, "load_balancer_source_ranges", 0),
        Some(vec!["10.0.0.0/8".to_string()])
    );
    assert_eq!(list(&b, "load_balancer_source_ranges", 1), None);

    let t = table("service_ports");
    let b = decode_all(&t, &[svc]);
    assert_eq!(ints(&b, "port"), vec![Some(80), Some(53)]);
    assert_eq!(
        strs(&b, "target_port"),
        vec![Some("http".into()), Some("5353".into())]
    );
    assert_eq!(
        strs(&b, "protocol"),
        vec![Some("TCP".into()), Some("UDP".into())]
    );
    assert_eq!(
        strs(&b, "service_type"),
        vec![Some("LoadBalancer".into()); 2]
    );
}

fn ingress() -> Value {
    json!({
        "metadata": {"name": "shop", "namespace": "shop",
                     "annotations": {"kubernetes.io/ingress.allow-http": "false"}},
        "spec": {
            "ingressClassName": "nginx",
            "defaultBackend": {"service": {"name": "fallback", "port": {"number": 8080}}},
            "tls": [{"hosts": ["*.example.com"], "secretName": "wild"}, {"secretName": "none"}],
            "rules": [
                {"host": "a.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                    {"path": "/api", "pathType": "Exact",
                     "backend": {"service": {"name": "api", "port": {"name": "http"}}}}]}},
                {"host": "plain.org"},
                {"host": "a.example.com"}
            ]
        }
    })
}

#[test]
fn ingresses_rules_and_tls() {
    let t = table("ingresses");
    let b = decode_all(&t, &[ingress(), json!({"metadata": {"name": "bare"}})]);
    assert_eq!(strs(&b, "class"), vec![Some("nginx".into()), None]);
    assert_eq!(bools(&b, "tls"), vec![Some(true), Some(false)]);
    assert_eq!(bools(&b, "allow_http"), vec![Some(false), Some(true)]);
    assert_eq!(
        list(&b, "hosts", 0),
        Some(vec!["a.example.com".to_string(), "plain.org".to_string()])
    );

    let t = table("ingress_rules");
    let b = decode_all(&t, &[ingress()]);
    assert_eq!(b.num_rows(), 5);
    assert_eq!(
        strs(&b, "host"),
        vec![
            None,
            Some("a.example.com".into()),
            Some("a.example.com".into()),
            Some("plain.org".into()),
            Some("a.example.com".into())
        ]
    );
    assert_eq!(
        bools(&b, "default_backend"),
        vec![
            Some(true),
            Some(false),
            Some(false),
            Some(false),
            Some(false)
        ]
    );
    assert_eq!(
        strs(&b, "backend_service"),
        vec![
            Some("fallback".into()),
            Some("web".into()),
            Some("api".into()),
            None,
            None
        ]
    );
    assert_eq!(
        ints(&b, "backend_port"),
        vec![Some(8080), Some(80), None, None, None]
    );
    assert_eq!(strs(&b, "backend_port_name")[2].as_deref(), Some("http"));
    assert_eq!(strs(&b, "path")[1].as_deref(), Some("/"));
    assert_eq!(
        bools(&b, "tls"),
        vec![Some(false), Some(true), Some(true), Some(false), Some(true)]
    );
    assert_eq!(strs(&b, "ingress_class"), vec![Some("nginx".into()); 5]);

    let t = table("ingress_tls");
    let b = decode_all(&t, &[ingress()]);
    assert_eq!(strs(&b, "host"), vec![Some("*.example.com".into()), None]);
    assert_eq!(
        strs(&b, "secret_name"),
        vec![Some("wild".into()), Some("none".into())]
    );
}

#[test]
fn rbac_rules_and_subjects() {
    let t = table("role_rules");
    assert_eq!(t.sources.len(), 2);
    let role = json!({"metadata": {"name": "reader", "namespace": "shop"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
                  {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"], "resourceNames": ["x"]}]});
    let b = t.decode_json("c", &t.sources[0], &[role], None).unwrap();
    assert_eq!(strs(&b, "role_kind"), vec![Some("Role".into()); 2]);
    assert_eq!(list(&b, "api_groups", 0), Some(vec![String::new()]));
    assert_eq!(
        list(&b, "verbs", 0),
        Some(vec!["get".to_string(), "list".to_string()])
    );
    assert_eq!(list(&b, "resource_names", 0), None);
    assert_eq!(list(&b, "resource_names", 1), Some(vec!["x".to_string()]));
    let cr = json!({"metadata": {"name": "admin"}, "rules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]});
    let b = t.decode_json("c", &t.sources[1], &[cr], None).unwrap();
    assert_eq!(strs(&b, "role_kind"), vec![Some("ClusterRole".into())]);
    assert_eq!(strs(&b, "namespace"), vec![None]);

    let t = table("role_binding_subjects");
    let rb = json!({"metadata": {"name": "read-secrets", "namespace": "shop"},
        "roleRef": {"kind": "Role", "name": "reader", "apiGroup": "rbac.authorization.k8s.io"},
        "subjects": [{"kind": "ServiceAccount", "name": "web"},
                     {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
                     {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}]});
    let b = t.decode_json("c", &t.sources[0], &[rb], None).unwrap();
    assert_eq!(
        strs(&b, "binding_kind"),
        vec![Some("RoleBinding".into()); 3]
    );
    assert_eq!(strs(&b, "role_ref_name"), vec![Some("reader".into()); 3]);
    assert_eq!(
        strs(&b, "subject_namespace"),
        vec![Some("shop".into()), Some("tools".into()), None]
    );
    assert_eq!(strs(&b, "subject_kind")[2].as_deref(), Some("Group"));
    let crb = json!({"metadata": {"name": "admins"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
                     "subjects": [{"kind": "User", "name": "alice"}]});
    let b = t.decode_json("c", &t.sources[1], &[crb], None).unwrap();
    assert_eq!(
        strs(&b, "binding_kind"),
        vec![Some("ClusterRoleBinding".into())]
    );
    assert_eq!(
        table("cluster_role_bindings").pushdown.namespace_column,
        None
    );
}

#[test]
fn nodes_and_conditions() {
    let node = json!({
        "metadata": {"name": "ip-10-0-1-5", "labels": {
            "topology.kubernetes.io/zone": "eu-west-1a", "node.kubernetes.io/instance-type": "m5.large",
            "node-role.kubernetes.io/worker": ""}},
        "spec": {"providerID": "aws:///eu-west-1a/i-0abc", "unschedulable": true,
                 "taints": [{"key": "k", "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "110"},
            "nodeInfo": {"kubeletVersion": "v1.33.1"},
            "addresses": [{"type": "InternalIP", "address": "10.0.1.5"}],
            "conditions": [{"type": "Ready", "status": "True"},
                           {"type": "MemoryPressure", "status": "False"}]
        }
    });
    let t = table("nodes");
    let b = decode_all(&t, std::slice::from_ref(&node));
    assert_eq!(strs(&b, "instance_id"), vec![Some("i-0abc".into())]);
    assert_eq!(strs(&b, "provider"), vec![Some("aws".into())]);
    assert_eq!(strs(&b, "zone"), vec![Some("eu-west-1a".into())]);
    assert_eq!(strs(&b, "instance_type"), vec![Some("m5.large".into())]);
    assert_eq!(list(&b, "roles", 0), Some(vec!["worker".to_string()]));
    assert_eq!(ints(&b, "cpu_capacity"), vec![Some(4000)]);
    assert_eq!(ints(&b, "cpu_allocatable"), vec![Some(3920)]);
    assert_eq!(ints(&b, "memory_capacity"), vec![Some(16 << 30)]);
    assert_eq!(ints(&b, "pods_capacity"), vec![Some(110)]);
    assert_eq!(bools(&b, "ready"), vec![Some(true)]);
    assert_eq!(bools(&b, "memory_pressure"), vec![Some(false)]);
    assert_eq!(bools(&b, "disk_pressure"), vec![None]);
    assert_eq!(bools(&b, "unschedulable"), vec![Some(true)]);
    assert_eq!(strs(&b, "namespace"), vec![None]);
    assert_eq!(t.pushdown.namespace_column, None);
    assert_eq!(strs(&b, "internal_ip"), vec![Some("10.0.1.5".into())]);

    let t = table("node_conditions");
    let b = decode_all(&t, &[node]);
    assert_eq!(
        strs(&b, "type"),
        vec![Some("Ready".into()), Some("MemoryPressure".into())]
    );
    assert_eq!(bools(&b, "is_true"), vec![Some(true), Some(false)]);
    assert_eq!(strs(&b, "node_name"), vec![Some("ip-10-0-1-5".into()); 2]);
}

#[test]
fn secrets_never_show_values_by_default() {
    let secret = json!({
        "metadata": {"name": "db", "namespace": "shop", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"pw\":\"c2VjcmV0\"}}",
            "owner": "team-a"}},
        "type": "Opaque",
        "data": {"pw": "c2VjcmV0", "user": "YWRtaW4="}
    });
    let t = table("secrets");
    assert!(t.schema().field_with_name("data").is_err());
    let b = decode_all(&t, std::slice::from_ref(&secret));
    assert_eq!(
        list(&b, "keys", 0),
        Some(vec!["pw".to_string(), "user".to_string()])
    );
    assert_eq!(strs(&b, "type"), vec![Some("Opaque".into())]);
    assert_eq!(
        map_get(
            &b,
            "annotations",
            0,
            "kubectl.kubernetes.io/last-applied-configuration"
        )
        .as_deref(),
        Some("<redacted>")
    );
    assert_eq!(
        map_get(&b, "annotations", 0, "owner").as_deref(),
        Some("team-a")
    );
    let printed = arrow::util::pretty::pretty_format_batches(&[b])
        .unwrap()
        .to_string();
    assert!(
        !printed.contains("c2VjcmV0") && !printed.contains("secret"),
        "{printed}"
    );

    let shown = builtin_tables(TableOptions {
        show_secret_values: true,
    })
    .into_iter()
    .find(|t| t.name == "secrets")
    .unwrap();
    let b = decode_all(&shown, &[secret]);
    assert_eq!(map_get(&b, "data", 0, "pw").as_deref(), Some("secret"));
    assert_eq!(map_get(&b, "data", 0, "user").as_deref(), Some("admin"));
}

#[test]
fn events_and_workloads() {
    let ev = json!({"metadata": {"name": "e1", "namespace": "shop"}, "type": "Warning",
        "reason": "BackOff", "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "shop"},
        "count": 5, "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": null,
        "eventTime": "2024-05-01T10:05:00.123456Z", "source": {"component": "kubelet"}});
    let b = decode_all(&table("events"), &[ev]);
    assert_eq!(strs(&b, "involved_kind"), vec![Some("Pod".into())]);
    assert_eq!(ints(&b, "count"), vec![Some(5)]);
    let last = col(&b, "last_seen")
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(last.value(0), 1_714_557_900_123_456);
    assert_eq!(strs(&b, "source_component"), vec![Some("kubelet".into())]);

    let d = json!({"metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "RollingUpdate"}},
        "status": {"readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 3}});
    let b = decode_all(&table("deployments"), &[d]);
    assert_eq!(ints(&b, "replicas"), vec![Some(3)]);
    assert_eq!(ints(&b, "ready_replicas"), vec![Some(2)]);
    assert_eq!(strs(&b, "strategy"), vec![Some("RollingUpdate".into())]);
    assert_eq!(
        strs(&b, "selector"),
        vec![Some(r#"{"matchLabels":{"app":"web"}}"#.into())]
    );

    let cj = json!({"metadata": {"name": "n", "namespace": "ops"},
        "spec": {"schedule": "*/5 * * * *", "suspend": true},
        "status": {"lastScheduleTime": "2024-05-01T10:00:00Z", "active": [{"name": "n-1"}]}});
    let b = decode_all(&table("cron_jobs"), &[cj]);
    assert_eq!(strs(&b, "schedule"), vec![Some("*/5 * * * *".into())]);
    assert_eq!(bools(&b, "suspend"), vec![Some(true)]);
    assert_eq!(ints(&b, "active_jobs"), vec![Some(1)]);

    let pvc = json!({"metadata": {"name": "data", "namespace": "db"},
        "spec": {"resources": {"requests": {"storage": "10Gi"}}}});
    let b = decode_all(&table("persistent_volume_claims"), &[pvc]);
    assert_eq!(ints(&b, "requested_bytes"), vec![Some(10 << 30)]);

    let crd = json!({"metadata": {"name": "certificates.cert-manager.io"},
        "spec": {"group": "cert-manager.io", "scope": "Namespaced",
                 "names": {"kind": "Certificate", "plural": "certificates"},
                 "versions": [{"name": "v1", "served": true, "storage": true},
                              {"name": "v1alpha2", "served": false}]}});
    let b = decode_all(&table("custom_resource_definitions"), &[crd]);
    assert_eq!(strs(&b, "kind"), vec![Some("Certificate".into())]);
    assert_eq!(
        list(&b, "versions", 0),
        Some(vec!["v1".to_string(), "v1alpha2".to_string()])
    );
    assert_eq!(strs(&b, "storage_version"), vec![Some("v1".into())]);
}

#[test]
fn generic_tables_carry_the_object_without_managed_fields() {
    let res = ResourceRef::new("cert-manager.io", "v1", "Certificate", "certificates", true);
    let t = generic_table("certificates", res.clone());
    let names: Vec<String> = t
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "cluster",
            "namespace",
            "name",
            "uid",
            "labels",
            "annotations",
            "created",
            "owner_kind",
            "owner_name",
            "spec",
            "status",
            "object",
            "source_path",
            "source_line"
        ]
    );
    assert!(t.aliases.is_empty());
    let item = json!({"metadata": {"name": "c", "namespace": "n", "managedFields": [{}]},
                      "spec": {"secretName": "s"}});
    let b = t.decode_json("c", &res, &[item], None).unwrap();
    let obj: Value = serde_json::from_str(strs(&b, "object")[0].as_deref().unwrap()).unwrap();
    assert_eq!(obj["apiVersion"], "cert-manager.io/v1");
    assert_eq!(obj["kind"], "Certificate");
    assert!(obj["metadata"].get("managedFields").is_none());
    assert_eq!(obj["spec"]["secretName"], "s");

    let secret = ResourceRef::new("", "v1", "Secret", "secrets", true);
    let g = generic_table("secrets_raw", secret.clone());
    let b = g
        .decode_json(
            "c",
            &secret,
            &[json!({"metadata": {"name": "s"}, "data": {"k": "dg=="}})],
            None,
        )
        .unwrap();
    assert!(!strs(&b, "object")[0].as_deref().unwrap().contains("dg=="));
}

#[test]
fn markdown_reference_lists_every_column() {
    let tables = builtin_tables(TableOptions::default());
    let md = markdown_reference(&tables);
    assert!(md.contains("### `pods`"));
    assert!(md.contains("| `cpu_limit` | Int64 | CPU limit, millicores |"));
    assert!(md.contains("| `labels` | Map<Utf8, Utf8> |"));
    assert!(md.contains("| `spec` | JSON (Utf8) |"));
    assert_eq!(md.matches("### `").count(), tables.len());
}

#[tokio::test]
async fn datafusion_indexes_map_columns() {
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    let t = table("pods");
    let mut other = pod();
    other["metadata"]["labels"] = json!({"tier": "db"});
    other["metadata"]["name"] = json!("db-0");
    let batch = decode_all(&t, &[pod(), other]);
    let ctx = SessionContext::new();
    let mem = MemTable::try_new(t.schema(), vec![vec![batch]]).unwrap();
    ctx.register_table("pods", Arc::new(mem)).unwrap();
    let out = ctx
        .sql("SELECT name, labels['app'] AS app FROM pods ORDER BY name")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let printed = arrow::util::pretty::pretty_format_batches(&out)
        .unwrap()
        .to_string();
    assert!(printed.contains("| web-7d9f8-abcde | web |"), "{printed}");
    assert!(printed.contains("| db-0            |     |"), "{printed}");
    let out = ctx
        .sql("SELECT count(*) AS n FROM pods WHERE labels['app'] = 'web'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = out[0]
        .column(0)
        .as_primitive::<arrow::datatypes::Int64Type>()
        .value(0);
    assert_eq!(n, 1);
}

#[test]
fn every_row_of_a_manifest_object_says_where_it_was_declared() {
    use crate::kubernetes::manifests::Origin;
    for t in builtin_tables(TableOptions::default()) {
        let schema = t.schema();
        let n = schema.fields().len();
        assert_eq!(schema.field(n - 2).name(), "source_path", "{}", t.name);
        assert_eq!(schema.field(n - 1).name(), "source_line", "{}", t.name);
    }
    let t = table("containers");
    let items = vec![sonic_rs::to_value(&pod()).unwrap()];
    let origins = [Origin {
        path: "deploy/pod.yaml".into(),
        line: Some(7),
    }];
    let b = t
        .decode_with_origins("m", &t.sources[0], &items, Some(&origins), None)
        .unwrap();
    assert!(b.num_rows() > 1);
    assert!(
        strs(&b, "source_path")
            .iter()
            .all(|p| p.as_deref() == Some("deploy/pod.yaml"))
    );
    assert!(ints(&b, "source_line").iter().all(|l| *l == Some(7)));
    // A server's rows have no origin.
    let live = decode_all(&t, &[pod()]);
    assert!(strs(&live, "source_path").iter().all(Option::is_none));
    assert!(ints(&live, "source_line").iter().all(Option::is_none));
}
