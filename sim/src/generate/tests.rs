//! Tests of the generator: determinism, exact sizes, referential integrity
//! (the way a client computing "truth" would check it), and variety.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{ClusterProfile, Flavor, generate_cluster, generate_cluster_with};

fn gen_cluster(name: &str, pods: usize, flavor: Flavor, seed: u64) -> Vec<Value> {
    generate_cluster(
        &ClusterProfile {
            name: name.to_string(),
            pods,
            flavor,
        },
        seed,
    )
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn kind(v: &Value) -> &str {
    s(v, &["kind"]).unwrap_or("")
}

fn name(v: &Value) -> &str {
    s(v, &["metadata", "name"]).unwrap_or("")
}

fn ns(v: &Value) -> &str {
    s(v, &["metadata", "namespace"]).unwrap_or("")
}

fn uid(v: &Value) -> &str {
    s(v, &["metadata", "uid"]).unwrap_or("")
}

fn of_kind<'a>(objs: &'a [Value], k: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| kind(o) == k).collect()
}

fn arr(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Indexes `(kind, namespace, name)` of every object.
fn index(objs: &[Value]) -> HashMap<(String, String, String), &Value> {
    objs.iter()
        .map(|o| {
            (
                (kind(o).to_string(), ns(o).to_string(), name(o).to_string()),
                o,
            )
        })
        .collect()
}

fn exists(idx: &HashMap<(String, String, String), &Value>, k: &str, n: &str, nm: &str) -> bool {
    idx.contains_key(&(k.to_string(), n.to_string(), nm.to_string()))
}

fn selector_matches(selector: &serde_json::Map<String, Value>, labels: Option<&Value>) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

fn pod_ready(p: &Value) -> bool {
    arr(p.pointer("/status/conditions"))
        .iter()
        .any(|c| s(c, &["type"]) == Some("Ready") && s(c, &["status"]) == Some("True"))
}

fn phase(p: &Value) -> &str {
    s(p, &["status", "phase"]).unwrap_or("")
}

/// Parses the quantity spellings the generator uses (millis for cpu when
/// `milli`, bytes otherwise).
fn quantity(q: &str, milli: bool) -> f64 {
    let suffixes: [(&str, f64); 8] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("", 1.0),
    ];
    for (suf, mul) in suffixes {
        if let Some(num) = q.strip_suffix(suf)
            && let Ok(n) = num.parse::<f64>()
        {
            let v = n * mul;
            return if milli { v * 1000.0 } else { v };
        }
    }
    panic!("unparseable quantity {q}");
}

fn prod600() -> Vec<Value> {
    gen_cluster("prod-eu", 600, Flavor::Prod, 42)
}

#[test]
fn same_seed_same_bytes_different_seed_differs() {
    let a = serde_json::to_vec(&gen_cluster("c1", 300, Flavor::Staging, 7)).unwrap();
    let b = serde_json::to_vec(&gen_cluster("c1", 300, Flavor::Staging, 7)).unwrap();
    assert_eq!(a, b);
    let c = serde_json::to_vec(&gen_cluster("c1", 300, Flavor::Staging, 8)).unwrap();
    assert_ne!(a, c);
    let d = serde_json::to_vec(&gen_cluster("c2", 300, Flavor::Staging, 7)).unwrap();
    assert_ne!(a, d);
}

#[test]
fn exact_pod_count_for_every_size_and_flavor() {
    for flavor in [Flavor::Prod, Flavor::Staging, Flavor::Dev, Flavor::Generic] {
        for pods in [0, 1, 2, 5, 13, 50, 137, 600, 2500] {
            let objs = gen_cluster("sized", pods, flavor.clone(), 3);
            assert_eq!(
                of_kind(&objs, "Pod").len(),
                pods,
                "{flavor:?} with {pods} pods"
            );
            let nodes = of_kind(&objs, "Node").len();
            assert_eq!(nodes, pods.div_ceil(30).max(3));
        }
    }
}

#[test]
fn order_is_crds_then_namespaces_then_owners_before_dependents() {
    for objs in [prod600(), gen_cluster("dev", 200, Flavor::Dev, 1)] {
        let first_ns = objs.iter().position(|o| kind(o) == "Namespace").unwrap();
        if let Some(last_crd) = objs
            .iter()
            .rposition(|o| kind(o) == "CustomResourceDefinition")
        {
            assert!(last_crd < first_ns);
        }
        let last_ns = objs.iter().rposition(|o| kind(o) == "Namespace").unwrap();
        assert!(
            objs[first_ns..=last_ns]
                .iter()
                .all(|o| kind(o) == "Namespace")
        );
        let mut seen = HashSet::new();
        for o in &objs {
            for r in arr(o.pointer("/metadata/ownerReferences")) {
                let owner = s(r, &["uid"]).unwrap();
                assert!(
                    seen.contains(owner),
                    "{} {} owner after it",
                    kind(o),
                    name(o)
                );
                assert_eq!(r.get("controller"), Some(&Value::Bool(true)));
                assert_eq!(r.get("blockOwnerDeletion"), Some(&Value::Bool(true)));
            }
            seen.insert(uid(o).to_string());
        }
    }
}

#[test]
fn objects_are_well_formed_and_unique() {
    let objs = prod600();
    let mut uids = HashSet::new();
    let mut keys = HashSet::new();
    let namespaces: HashSet<&str> = of_kind(&objs, "Namespace")
        .iter()
        .map(|n| name(n))
        .collect();
    let cluster_scoped = [
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "IngressClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "ClusterIssuer",
        "ConstraintTemplate",
        "K8sAllowedRepos",
    ];
    for o in &objs {
        assert!(s(o, &["apiVersion"]).is_some());
        assert!(!name(o).is_empty());
        let u = uid(o);
        assert_eq!(u.len(), 36);
        assert!(uids.insert(u.to_string()), "duplicate uid {u}");
        assert!(
            keys.insert((kind(o), ns(o), name(o))),
            "duplicate {} {}/{}",
            kind(o),
            ns(o),
            name(o)
        );
        let created = s(o, &["metadata", "creationTimestamp"]).unwrap();
        assert!(created.ends_with('Z') && created.len() == 20, "{created}");
        assert!(created <= "2026-06-01T00:00:00Z");
        assert!(o.pointer("/metadata/resourceVersion").is_none());
        if cluster_scoped.contains(&kind(o)) {
            assert!(
                o.pointer("/metadata/namespace").is_none(),
                "{} is cluster-scoped",
                kind(o)
            );
        } else {
            assert!(
                namespaces.contains(ns(o)),
                "{} {} in unknown namespace",
                kind(o),
                name(o)
            );
        }
    }
}

#[test]
fn references_point_at_existing_objects() {
    for objs in [
        prod600(),
        gen_cluster("staging", 900, Flavor::Staging, 9),
        gen_cluster("dev", 150, Flavor::Dev, 9),
        gen_cluster("generic", 400, Flavor::Generic, 9),
    ] {
        check_references(&objs);
    }
}

fn check_references(objs: &[Value]) {
    let idx = index(objs);
    let uids: HashMap<&str, &Value> = objs.iter().map(|o| (uid(o), o)).collect();
    let nodes: HashSet<&str> = of_kind(objs, "Node").iter().map(|n| name(n)).collect();

    for o in objs {
        for r in arr(o.pointer("/metadata/ownerReferences")) {
            let owner = uids.get(s(r, &["uid"]).unwrap()).expect("owner exists");
            assert_eq!(kind(owner), s(r, &["kind"]).unwrap());
            assert_eq!(name(owner), s(r, &["name"]).unwrap());
            assert_eq!(s(owner, &["apiVersion"]), s(r, &["apiVersion"]));
        }
    }

    for p in of_kind(objs, "Pod") {
        let n = ns(p);
        if let Some(node) = s(p, &["spec", "nodeName"]) {
            assert!(nodes.contains(node), "pod on unknown node {node}");
        } else {
            assert_eq!(phase(p), "Pending");
        }
        let sa = s(p, &["spec", "serviceAccountName"]).unwrap();
        assert!(exists(&idx, "ServiceAccount", n, sa), "sa {n}/{sa}");
        for v in arr(p.pointer("/spec/volumes")) {
            if let Some(cm) = s(v, &["configMap", "name"]) {
                assert!(exists(&idx, "ConfigMap", n, cm), "cm {n}/{cm}");
            }
            if let Some(sec) = s(v, &["secret", "secretName"]) {
                assert!(exists(&idx, "Secret", n, sec));
            }
            if let Some(claim) = s(v, &["persistentVolumeClaim", "claimName"]) {
                assert!(exists(&idx, "PersistentVolumeClaim", n, claim));
            }
            for src in arr(v.pointer("/projected/sources")) {
                if let Some(cm) = s(src, &["configMap", "name"]) {
                    assert!(exists(&idx, "ConfigMap", n, cm));
                }
            }
        }
        for ps in arr(p.pointer("/spec/imagePullSecrets")) {
            assert!(exists(&idx, "Secret", n, s(ps, &["name"]).unwrap()));
        }
        let containers = arr(p.pointer("/spec/containers"))
            .iter()
            .chain(arr(p.pointer("/spec/initContainers")));
        for c in containers {
            for e in arr(c.get("envFrom")) {
                if let Some(cm) = s(e, &["configMapRef", "name"]) {
                    assert!(exists(&idx, "ConfigMap", n, cm));
                }
                if let Some(sec) = s(e, &["secretRef", "name"]) {
                    assert!(exists(&idx, "Secret", n, sec));
                }
            }
            for e in arr(c.get("env")) {
                if let Some(sec) = s(e, &["valueFrom", "secretKeyRef", "name"]) {
                    let secret = idx
                        .get(&("Secret".to_string(), n.to_string(), sec.to_string()))
                        .expect("secret exists");
                    let key = s(e, &["valueFrom", "secretKeyRef", "key"]).unwrap();
                    assert!(secret.pointer(&format!("/data/{key}")).is_some());
                }
            }
            let mounts: HashSet<&str> = arr(c.get("volumeMounts"))
                .iter()
                .map(|m| s(m, &["name"]).unwrap())
                .collect();
            let volumes: HashSet<&str> = arr(p.pointer("/spec/volumes"))
                .iter()
                .map(|v| s(v, &["name"]).unwrap())
                .collect();
            assert!(
                mounts.is_subset(&volumes),
                "mount without volume in {}",
                name(p)
            );
        }
    }

    // Endpoints list exactly the selected pods, split by readiness.
    let pods_by_ns: HashMap<&str, Vec<&Value>> =
        of_kind(objs, "Pod")
            .into_iter()
            .fold(HashMap::new(), |mut m, p| {
                m.entry(ns(p)).or_default().push(p);
                m
            });
    for svc in of_kind(objs, "Service") {
        let n = ns(svc);
        let Some(sel) = svc.pointer("/spec/selector").and_then(Value::as_object) else {
            continue;
        };
        let selected: Vec<&Value> = pods_by_ns
            .get(n)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .copied()
            .filter(|p| selector_matches(sel, p.pointer("/metadata/labels")))
            .collect();
        let mut want_ready = HashSet::new();
        let mut want_unready = HashSet::new();
        for p in &selected {
            let Some(ip) = s(p, &["status", "podIP"]) else {
                continue;
            };
            if matches!(phase(p), "Succeeded" | "Failed") {
                continue;
            }
            if pod_ready(p) {
                want_ready.insert((ip, uid(p)));
            } else {
                want_unready.insert((ip, uid(p)));
            }
        }
        let ep = idx
            .get(&(
                "Endpoints".to_string(),
                n.to_string(),
                name(svc).to_string(),
            ))
            .expect("endpoints exist");
        let subsets = arr(ep.get("subsets"));
        let collect = |key: &str| -> HashSet<(&str, &str)> {
            subsets
                .iter()
                .flat_map(|ss| arr(ss.get(key)).iter())
                .map(|a| (s(a, &["ip"]).unwrap(), s(a, &["targetRef", "uid"]).unwrap()))
                .collect()
        };
        assert_eq!(
            collect("addresses"),
            want_ready,
            "ready endpoints of {n}/{}",
            name(svc)
        );
        assert_eq!(collect("notReadyAddresses"), want_unready);
        // Ports of the endpoints are the container ports the service targets.
        for ss in subsets {
            assert_eq!(
                arr(ss.get("ports")).len(),
                arr(svc.pointer("/spec/ports")).len()
            );
        }
        let slices: Vec<&Value> = of_kind(objs, "EndpointSlice")
            .into_iter()
            .filter(|e| {
                ns(e) == n
                    && s(e, &["metadata", "labels", "kubernetes.io/service-name"])
                        == Some(name(svc))
            })
            .collect();
        assert!(!slices.is_empty());
        let slice_ready: HashSet<(&str, &str)> = slices
            .iter()
            .flat_map(|e| arr(e.get("endpoints")).iter())
            .filter(|e| e.pointer("/conditions/ready") == Some(&Value::Bool(true)))
            .map(|e| {
                (
                    arr(e.get("addresses"))[0].as_str().unwrap(),
                    s(e, &["targetRef", "uid"]).unwrap(),
                )
            })
            .collect();
        assert_eq!(slice_ready, want_ready);
    }

    for ing in of_kind(objs, "Ingress") {
        let n = ns(ing);
        for r in arr(ing.pointer("/spec/rules")) {
            for p in arr(r.pointer("/http/paths")) {
                let svc = s(p, &["backend", "service", "name"]).unwrap();
                assert!(exists(&idx, "Service", n, svc), "ingress backend {n}/{svc}");
            }
        }
        for t in arr(ing.pointer("/spec/tls")) {
            let sec = s(t, &["secretName"]).unwrap();
            let secret = idx
                .get(&("Secret".to_string(), n.to_string(), sec.to_string()))
                .expect("tls secret");
            assert_eq!(s(secret, &["type"]), Some("kubernetes.io/tls"));
        }
    }

    for e in of_kind(objs, "Event") {
        let inv = e.get("involvedObject").unwrap();
        let target = uids
            .get(s(inv, &["uid"]).unwrap())
            .expect("event target exists");
        assert_eq!(kind(target), s(inv, &["kind"]).unwrap());
        assert_eq!(name(target), s(inv, &["name"]).unwrap());
        assert_eq!(ns(target), s(inv, &["namespace"]).unwrap_or(""));
        assert!(matches!(s(e, &["type"]), Some("Normal" | "Warning")));
    }

    for b in of_kind(objs, "ClusterRoleBinding")
        .into_iter()
        .chain(of_kind(objs, "RoleBinding"))
    {
        let role = s(b, &["roleRef", "name"]).unwrap();
        let role_kind = s(b, &["roleRef", "kind"]).unwrap();
        let role_ns = if role_kind == "Role" { ns(b) } else { "" };
        assert!(exists(&idx, role_kind, role_ns, role), "role {role}");
        for sub in arr(b.get("subjects")) {
            if s(sub, &["kind"]) == Some("ServiceAccount") {
                let sns = s(sub, &["namespace"]).unwrap();
                assert!(exists(
                    &idx,
                    "ServiceAccount",
                    sns,
                    s(sub, &["name"]).unwrap()
                ));
            }
        }
    }

    for h in of_kind(objs, "HorizontalPodAutoscaler") {
        let target = s(h, &["spec", "scaleTargetRef", "name"]).unwrap();
        assert!(exists(&idx, "Deployment", ns(h), target));
    }

    for pvc in of_kind(objs, "PersistentVolumeClaim") {
        let class = s(pvc, &["spec", "storageClassName"]).unwrap();
        assert!(exists(&idx, "StorageClass", "", class));
        if let Some(pv) = s(pvc, &["spec", "volumeName"]) {
            let pv = idx
                .get(&(
                    "PersistentVolume".to_string(),
                    String::new(),
                    pv.to_string(),
                ))
                .expect("pv exists");
            assert_eq!(s(pv, &["spec", "claimRef", "uid"]), Some(uid(pvc)));
            assert_eq!(phase(pvc), "Bound");
        }
    }

    for sec in of_kind(objs, "Secret") {
        if s(sec, &["type"]) == Some("kubernetes.io/service-account-token") {
            let sa = s(
                sec,
                &[
                    "metadata",
                    "annotations",
                    "kubernetes.io/service-account.name",
                ],
            )
            .unwrap();
            let sa_obj = idx
                .get(&(
                    "ServiceAccount".to_string(),
                    ns(sec).to_string(),
                    sa.to_string(),
                ))
                .expect("token's service account");
            assert_eq!(
                s(
                    sec,
                    &[
                        "metadata",
                        "annotations",
                        "kubernetes.io/service-account.uid"
                    ]
                ),
                Some(uid(sa_obj))
            );
        }
    }
}

#[test]
fn controllers_status_matches_their_pods() {
    let objs = gen_cluster("status", 1200, Flavor::Generic, 11);
    let mut owned: HashMap<&str, Vec<&Value>> = HashMap::new();
    for p in of_kind(&objs, "Pod") {
        if let Some(r) = arr(p.pointer("/metadata/ownerReferences")).first() {
            owned.entry(s(r, &["uid"]).unwrap()).or_default().push(p);
        }
    }
    let live = |v: &Vec<&Value>| {
        v.iter()
            .filter(|p| !matches!(phase(p), "Succeeded" | "Failed"))
            .count()
    };
    let rs_by_uid: HashMap<&str, &Value> = of_kind(&objs, "ReplicaSet")
        .into_iter()
        .map(|r| (uid(r), r))
        .collect();
    for (rs_uid, rs) in &rs_by_uid {
        let pods = owned.get(rs_uid).cloned().unwrap_or_default();
        let replicas = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap();
        assert_eq!(replicas as usize, live(&pods), "rs {}", name(rs));
        let hash = s(rs, &["metadata", "labels", "pod-template-hash"]).unwrap();
        assert!(name(rs).ends_with(hash));
        for p in pods {
            assert_eq!(
                s(p, &["metadata", "labels", "pod-template-hash"]),
                Some(hash)
            );
            assert!(name(p).starts_with(name(rs)));
            assert_eq!(
                p.pointer("/spec/containers/0/image"),
                rs.pointer("/spec/template/spec/containers/0/image")
            );
            assert_eq!(
                p.pointer("/spec/containers/0/resources"),
                rs.pointer("/spec/template/spec/containers/0/resources")
            );
        }
    }
    for d in of_kind(&objs, "Deployment") {
        let total: u64 = of_kind(&objs, "ReplicaSet")
            .into_iter()
            .filter(|r| {
                arr(r.pointer("/metadata/ownerReferences"))
                    .iter()
                    .any(|o| s(o, &["uid"]) == Some(uid(d)))
            })
            .map(|r| r.pointer("/spec/replicas").and_then(Value::as_u64).unwrap())
            .sum();
        assert_eq!(
            d.pointer("/spec/replicas").and_then(Value::as_u64),
            Some(total)
        );
    }
    let node_count = of_kind(&objs, "Node").len();
    for ds in of_kind(&objs, "DaemonSet") {
        let pods = owned.get(uid(ds)).cloned().unwrap_or_default();
        let nodes: HashSet<&str> = pods
            .iter()
            .map(|p| s(p, &["spec", "nodeName"]).unwrap())
            .collect();
        assert_eq!(nodes.len(), pods.len(), "one pod per node for {}", name(ds));
        let desired = ds
            .pointer("/status/desiredNumberScheduled")
            .and_then(Value::as_u64)
            .unwrap();
        assert_eq!(desired as usize, pods.len());
        if name(ds) != "fluent-bit" {
            assert_eq!(pods.len(), node_count);
        }
    }
    for sts in of_kind(&objs, "StatefulSet") {
        let pods = owned.get(uid(sts)).cloned().unwrap_or_default();
        let mut names: Vec<&str> = pods.iter().map(|p| name(p)).collect();
        names.sort();
        let mut want: Vec<String> = (0..pods.len())
            .map(|i| format!("{}-{i}", name(sts)))
            .collect();
        want.sort();
        assert_eq!(names, want);
    }
    for j in of_kind(&objs, "Job") {
        let pods = owned.get(uid(j)).cloned().unwrap_or_default();
        assert_eq!(pods.len(), 1);
        let succeeded = j.pointer("/status/succeeded").is_some();
        if succeeded {
            assert_eq!(phase(pods[0]), "Succeeded");
        }
    }
}

#[test]
fn pods_fit_their_nodes() {
    let objs = gen_cluster("fit", 3000, Flavor::Prod, 5);
    let mut used: HashMap<&str, (f64, f64, u64)> = HashMap::new();
    for p in of_kind(&objs, "Pod") {
        let Some(node) = s(p, &["spec", "nodeName"]) else {
            continue;
        };
        let e = used.entry(node).or_default();
        e.2 += 1;
        if matches!(phase(p), "Succeeded" | "Failed") {
            continue;
        }
        let mut cs: Vec<&Value> = arr(p.pointer("/spec/containers")).iter().collect();
        cs.extend(
            arr(p.pointer("/spec/initContainers"))
                .iter()
                .filter(|c| s(c, &["restartPolicy"]) == Some("Always")),
        );
        for c in cs {
            if let Some(q) = s(c, &["resources", "requests", "cpu"]) {
                e.0 += quantity(q, true);
            }
            if let Some(q) = s(c, &["resources", "requests", "memory"]) {
                e.1 += quantity(q, false);
            }
        }
    }
    for n in of_kind(&objs, "Node") {
        let (cpu, mem, pods) = used.get(name(n)).copied().unwrap_or_default();
        let alloc_cpu = quantity(s(n, &["status", "allocatable", "cpu"]).unwrap(), true);
        let alloc_mem = quantity(s(n, &["status", "allocatable", "memory"]).unwrap(), false);
        let max: u64 = s(n, &["status", "allocatable", "pods"])
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            cpu <= alloc_cpu + 0.5,
            "{} cpu {cpu} > {alloc_cpu}",
            name(n)
        );
        assert!(mem <= alloc_mem + 1.0, "{} memory", name(n));
        assert!(pods <= max, "{} pods", name(n));
        let provider = s(n, &["spec", "providerID"]).unwrap();
        let id = provider.rsplit('/').next().unwrap();
        assert!(provider.starts_with("aws:///"));
        assert_eq!(id.len(), 19, "{id}");
        assert!(id[2..].chars().all(|c| c.is_ascii_hexdigit()));
    }
}

#[test]
fn prod_cluster_has_every_classic_finding() {
    let objs = prod600();
    let pods = of_kind(&objs, "Pod");
    let all_containers = |p: &Value| -> Vec<Value> {
        ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .flat_map(|k| arr(p.pointer(&format!("/spec/{k}"))).to_vec())
            .collect()
    };
    let containers: Vec<Value> = pods.iter().flat_map(|p| all_containers(p)).collect();
    let images: HashSet<&str> = containers.iter().filter_map(|c| s(c, &["image"])).collect();

    assert!(
        containers
            .iter()
            .any(|c| c.pointer("/securityContext/privileged") == Some(&Value::Bool(true)))
    );
    assert!(
        pods.iter()
            .any(|p| p.pointer("/spec/hostNetwork") == Some(&Value::Bool(true)))
    );
    assert!(
        pods.iter()
            .any(|p| p.pointer("/spec/hostPID") == Some(&Value::Bool(true)))
    );
    assert!(pods.iter().any(|p| {
        arr(p.pointer("/spec/volumes"))
            .iter()
            .any(|v| v.get("hostPath").is_some())
    }));
    assert!(
        pods.iter()
            .any(|p| p.pointer("/spec/ephemeralContainers").is_some())
    );
    assert!(
        pods.iter()
            .any(|p| p.pointer("/spec/initContainers").is_some())
    );
    assert!(containers.iter().any(|c| {
        arr(c.pointer("/securityContext/capabilities/add"))
            .iter()
            .any(|x| x == "NET_ADMIN")
    }));
    assert!(containers.iter().any(|c| c.get("readinessProbe").is_none()));
    assert!(containers.iter().any(|c| c.get("readinessProbe").is_some()));

    let mysql: HashSet<&&str> = images.iter().filter(|i| i.contains("mysql")).collect();
    assert!(mysql.len() >= 2, "{mysql:?}");
    assert!(images.iter().any(|i| i.contains("@sha256:")));
    assert!(images.iter().any(|i| i.starts_with("localhost:5000/")));
    assert!(images.iter().any(|i| i.ends_with(":latest")));
    assert!(
        images
            .iter()
            .any(|i| !i.rsplit('/').next().unwrap().contains(':') && !i.contains('@'))
    );
    assert!(
        images
            .iter()
            .any(|i| i.starts_with("registry.corp.example.com/"))
    );
    assert!(
        images
            .iter()
            .any(|i| i.starts_with("quay.io/") || i.starts_with("ghcr.io/"))
    );

    let mut spellings = HashSet::new();
    for c in &containers {
        for k in ["requests", "limits"] {
            if let Some(m) = c
                .pointer(&format!("/resources/{k}"))
                .and_then(Value::as_object)
            {
                for v in m.values() {
                    spellings.insert(v.as_str().unwrap().to_string());
                }
            }
        }
    }
    for q in ["100m", "250m", "1Gi", "512Mi", "10m", "128Mi"] {
        assert!(spellings.contains(q), "missing spelling {q}: {spellings:?}");
    }
    assert!(
        containers
            .iter()
            .any(|c| c.pointer("/resources/limits").is_none())
    );

    let phases: HashSet<&str> = pods.iter().map(|p| phase(p)).collect();
    for ph in ["Running", "Pending", "Succeeded", "Failed"] {
        assert!(phases.contains(ph), "missing phase {ph}");
    }
    let waiting: HashSet<&str> = pods
        .iter()
        .flat_map(|p| arr(p.pointer("/status/containerStatuses")).iter())
        .filter_map(|c| s(c, &["state", "waiting", "reason"]))
        .collect();
    assert!(waiting.contains("CrashLoopBackOff"));
    assert!(waiting.contains("ImagePullBackOff"));

    let services = of_kind(&objs, "Service");
    let ann = |svc: &Value, k: &str| s(svc, &["metadata", "annotations", k]).map(str::to_string);
    assert!(services.iter().any(|s| {
        ann(s, "service.beta.kubernetes.io/aws-load-balancer-scheme").as_deref() == Some("internal")
    }));
    assert!(services.iter().any(|s| {
        ann(s, "service.beta.kubernetes.io/aws-load-balancer-internal").as_deref() == Some("true")
    }));
    assert!(
        services
            .iter()
            .any(|s| ann(s, "networking.gke.io/load-balancer-type").as_deref() == Some("Internal"))
    );
    assert!(
        services
            .iter()
            .any(|svc| svc.pointer("/spec/loadBalancerSourceRanges").is_some())
    );
    assert!(
        services
            .iter()
            .any(|svc| s(svc, &["spec", "type"]) == Some("NodePort"))
    );
    assert!(
        services
            .iter()
            .any(|svc| s(svc, &["spec", "clusterIP"]) == Some("None"))
    );
    let external_lb = services.iter().any(|svc| {
        s(svc, &["spec", "type"]) == Some("LoadBalancer")
            && svc.pointer("/metadata/annotations").is_none()
            && s(svc, &["status", "loadBalancer", "ingress"]).is_none()
            && svc
                .pointer("/status/loadBalancer/ingress/0/hostname")
                .and_then(Value::as_str)
                .is_some_and(|h| h.ends_with(".elb.amazonaws.com"))
    });
    assert!(external_lb);

    let ingresses = of_kind(&objs, "Ingress");
    let hosts: Vec<(&str, &str)> = ingresses
        .iter()
        .flat_map(|i| {
            arr(i.pointer("/spec/rules"))
                .iter()
                .map(move |r| (s(r, &["host"]).unwrap(), ns(i)))
        })
        .collect();
    assert!(hosts.iter().any(|(h, _)| h.starts_with("*.")));
    let overlap = hosts
        .iter()
        .any(|(h, n)| hosts.iter().any(|(h2, n2)| h == h2 && n != n2));
    assert!(overlap, "{hosts:?}");
    assert!(ingresses.iter().any(|i| i.pointer("/spec/tls").is_none()));
    assert!(ingresses.iter().any(|i| {
        i.pointer("/spec/tls").is_some()
            && s(
                i,
                &[
                    "metadata",
                    "annotations",
                    "kubernetes.io/ingress.allow-http",
                ],
            ) == Some("false")
    }));
    assert!(!of_kind(&objs, "Certificate").is_empty());

    let nodes = of_kind(&objs, "Node");
    assert!(nodes.iter().any(|n| {
        arr(n.pointer("/status/conditions"))
            .iter()
            .any(|c| s(c, &["type"]) == Some("MemoryPressure") && s(c, &["status"]) == Some("True"))
    }));

    let namespaces = of_kind(&objs, "Namespace");
    let expires: Vec<&str> = namespaces
        .iter()
        .filter_map(|n| s(n, &["metadata", "annotations", "kq.example.com/expires"]))
        .collect();
    assert!(expires.iter().any(|e| *e < "2026-06-01T00:00:00Z"));
    assert!(expires.iter().any(|e| e.starts_with("2099")));
    assert!(
        namespaces
            .iter()
            .any(|n| s(n, &["metadata", "annotations", "janitor/ttl"]).is_some())
    );
    assert!(
        namespaces
            .iter()
            .any(|n| s(n, &["metadata", "annotations", "owner"]).is_none())
    );
    assert!(
        namespaces
            .iter()
            .any(|n| s(n, &["metadata", "annotations", "team"]).is_some())
    );
    let quota_ns: HashSet<&str> = of_kind(&objs, "ResourceQuota")
        .iter()
        .map(|q| ns(q))
        .collect();
    assert!(namespaces.iter().any(|n| !quota_ns.contains(name(n))));

    let warnings: HashSet<&str> = of_kind(&objs, "Event")
        .iter()
        .filter(|e| s(e, &["type"]) == Some("Warning"))
        .filter_map(|e| s(e, &["reason"]))
        .collect();
    for r in ["BackOff", "FailedScheduling", "OOMKilling"] {
        assert!(warnings.contains(r), "missing warning {r}: {warnings:?}");
    }

    let crb = of_kind(&objs, "ClusterRoleBinding");
    assert!(crb.iter().any(|b| {
        s(b, &["roleRef", "name"]) == Some("cluster-admin")
            && arr(b.get("subjects"))
                .iter()
                .any(|x| s(x, &["kind"]) == Some("ServiceAccount"))
    }));
    assert!(crb.iter().any(|b| {
        s(b, &["roleRef", "name"]) == Some("cluster-admin")
            && arr(b.get("subjects"))
                .iter()
                .any(|x| s(x, &["kind"]) == Some("Group"))
    }));
    let roles = of_kind(&objs, "ClusterRole");
    assert!(roles.iter().any(|r| {
        name(r) != "cluster-admin"
            && arr(r.get("rules"))
                .iter()
                .any(|x| arr(x.get("verbs")).iter().any(|v| v == "*"))
    }));
    assert!(roles.iter().any(|r| {
        arr(r.get("rules")).iter().any(|x| {
            arr(x.get("resources")).iter().any(|v| v == "secrets")
                && arr(x.get("verbs")).iter().any(|v| v == "get")
        })
    }));
    assert!(!of_kind(&objs, "Role").is_empty());
    let secret_types: HashSet<&str> = of_kind(&objs, "Secret")
        .iter()
        .filter_map(|x| s(x, &["type"]))
        .collect();
    for t in [
        "Opaque",
        "kubernetes.io/tls",
        "kubernetes.io/dockerconfigjson",
        "kubernetes.io/service-account-token",
    ] {
        assert!(secret_types.contains(t), "missing secret type {t}");
    }

    let crds: HashSet<&str> = of_kind(&objs, "CustomResourceDefinition")
        .iter()
        .map(|c| name(c))
        .collect();
    for c in [
        "certificates.cert-manager.io",
        "issuers.cert-manager.io",
        "clusterissuers.cert-manager.io",
        "constrainttemplates.templates.gatekeeper.sh",
        "k8sallowedrepos.constraints.gatekeeper.sh",
    ] {
        assert!(crds.contains(c), "missing CRD {c}");
    }
    let constraint = of_kind(&objs, "K8sAllowedRepos");
    assert_eq!(constraint.len(), 1);
    assert!(
        constraint[0]
            .pointer("/status/totalViolations")
            .and_then(Value::as_u64)
            .unwrap()
            > 0
    );
    for kind_name in [
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "LimitRange",
        "ResourceQuota",
        "IngressClass",
        "StorageClass",
        "PersistentVolume",
        "CronJob",
        "StatefulSet",
        "EndpointSlice",
        "ConstraintTemplate",
        "ClusterIssuer",
    ] {
        assert!(!of_kind(&objs, kind_name).is_empty(), "no {kind_name}");
    }
}

#[test]
fn flavors_drift() {
    let prod = prod600();
    let dev = gen_cluster("dev-us", 600, Flavor::Dev, 42);
    let staging = gen_cluster("staging-eu", 600, Flavor::Staging, 42);
    let ds = |objs: &[Value], n: &str| of_kind(objs, "DaemonSet").into_iter().any(|d| name(d) == n);
    assert!(ds(&prod, "fluent-bit"));
    assert!(!ds(&dev, "fluent-bit"));
    assert!(of_kind(&dev, "CustomResourceDefinition").is_empty());
    let kubelets = |objs: &[Value]| -> HashSet<String> {
        of_kind(objs, "Node")
            .iter()
            .filter_map(|n| s(n, &["status", "nodeInfo", "kubeletVersion"]).map(str::to_string))
            .collect()
    };
    assert!(kubelets(&prod).is_disjoint(&kubelets(&dev)));
    assert!(kubelets(&staging).len() >= 2);
    let image_of = |objs: &[Value], dep: &str| {
        of_kind(objs, "Deployment")
            .into_iter()
            .find(|d| name(d) == dep)
            .and_then(|d| d.pointer("/spec/template/spec/containers/0/image"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    assert_ne!(
        image_of(&prod, "ingress-nginx-controller"),
        image_of(&dev, "ingress-nginx-controller")
    );
    let ct_version = |objs: &[Value]| {
        of_kind(objs, "ConstraintTemplate")
            .first()
            .and_then(|c| s(c, &["apiVersion"]).map(str::to_string))
    };
    assert_ne!(ct_version(&prod), ct_version(&staging));
    // Staging ships logs only from labelled nodes.
    let staging_nodes = of_kind(&staging, "Node").len();
    let fb = of_kind(&staging, "DaemonSet")
        .into_iter()
        .find(|d| name(d) == "fluent-bit")
        .unwrap();
    let desired = fb
        .pointer("/status/desiredNumberScheduled")
        .and_then(Value::as_u64)
        .unwrap();
    assert!((desired as usize) < staging_nodes);
    assert!(!of_kind(&prod, "Node").is_empty());
    let wildcard_everywhere = prod
        .iter()
        .chain(dev.iter())
        .filter(|o| kind(o) == "ClusterRoleBinding" && name(o) == "default-sa-superuser")
        .count();
    assert_eq!(wildcard_everywhere, 1);
}

#[test]
fn tiny_clusters_stay_consistent() {
    for pods in [0, 1, 3, 9, 20] {
        for flavor in [Flavor::Prod, Flavor::Dev] {
            let objs = gen_cluster("tiny", pods, flavor, 1);
            check_references(&objs);
        }
    }
}

#[test]
fn pod_size_and_speed_are_reported() {
    let start = std::time::Instant::now();
    let objs = gen_cluster("big", 20_000, Flavor::Generic, 99);
    let elapsed = start.elapsed();
    let pods = of_kind(&objs, "Pod");
    assert_eq!(pods.len(), 20_000);
    let bytes: usize = pods
        .iter()
        .map(|p| serde_json::to_vec(p).unwrap().len())
        .sum();
    let avg = bytes / pods.len();
    let all: usize = objs
        .iter()
        .map(|o| serde_json::to_vec(o).unwrap().len())
        .sum();
    println!(
        "20k pods: {} objects, {} MB total, pod avg {avg} B, generated in {elapsed:?} (debug build)",
        objs.len(),
        all / 1_000_000
    );
    assert!((1500..=5000).contains(&avg), "pod average size {avg}");
}

#[test]
fn every_object_loads_into_the_sim_store() {
    for (flavor, pods) in [
        (Flavor::Prod, 400),
        (Flavor::Staging, 300),
        (Flavor::Dev, 100),
        (Flavor::Generic, 200),
    ] {
        let objs = gen_cluster("loadable", pods, flavor.clone(), 21);
        let store = crate::store::Store::new(21);
        store
            .load(objs)
            .unwrap_or_else(|e| panic!("{flavor:?} does not load: {e}"));
    }
}

#[test]
fn streaming_yields_the_same_objects_in_the_same_order() {
    let profile = ClusterProfile {
        name: "stream".into(),
        pods: 250,
        flavor: Flavor::Prod,
    };
    let mut streamed = Vec::new();
    generate_cluster_with(&profile, 4, &mut |v| streamed.push(v));
    assert_eq!(streamed, generate_cluster(&profile, 4));
    let mut count = 0;
    generate_cluster_with(&profile, 4, &mut |_| count += 1);
    assert_eq!(count, streamed.len());
}

#[test]
fn objects_are_generated_as_the_api_server_stores_them() {
    for flavor in [Flavor::Prod, Flavor::Staging, Flavor::Dev, Flavor::Generic] {
        let objs = gen_cluster("c", 150, flavor.clone(), 9);
        for o in &objs {
            // Defaulting what the generator made changes nothing: it is
            // already what the real server would store.
            let mut again = o.clone();
            crate::defaults::apply(&mut again);
            assert_eq!(&again, o, "{flavor:?}: {} {}/{}", kind(o), ns(o), name(o));
            let api_version = s(o, &["apiVersion"]).unwrap_or("");
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            if crate::defaults::tracks_generation(group, kind(o)) {
                assert!(
                    o.pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .is_some_and(|g| g >= 1),
                    "{} {}/{} has no metadata.generation",
                    kind(o),
                    ns(o),
                    name(o)
                );
            }
        }
        // Every ClusterIP is held by one Service (the real server refuses
        // a second: kube-dns and metrics-server once shared 172.20.0.10).
        let mut ips = HashSet::new();
        for svc in of_kind(&objs, "Service") {
            for ip in arr(svc.pointer("/spec/clusterIPs")) {
                let ip = ip.as_str().unwrap_or("");
                assert!(
                    ip == "None" || ips.insert(ip.to_string()),
                    "{flavor:?}: {ip} is allocated twice ({}/{})",
                    ns(svc),
                    name(svc)
                );
            }
        }
        let dns = of_kind(&objs, "Service")
            .into_iter()
            .find(|s| name(s) == "kube-dns")
            .expect("kube-dns");
        assert_eq!(s(dns, &["spec", "clusterIP"]), Some("172.20.0.10"));
    }
}

#[test]
fn the_bootstrap_rbac_policy_is_there_and_aggregated() {
    let objs = gen_cluster("c", 60, Flavor::Prod, 3);
    let idx = index(&objs);
    for (k, n, nm) in [
        ("ClusterRole", "", "cluster-admin"),
        (
            "ClusterRole",
            "",
            "system:controller:generic-garbage-collector",
        ),
        (
            "ClusterRoleBinding",
            "",
            "system:controller:namespace-controller",
        ),
        ("ClusterRoleBinding", "", "system:node-proxier"),
        ("Role", "kube-public", "system:controller:bootstrap-signer"),
        (
            "RoleBinding",
            "kube-system",
            "system::leader-locking-kube-scheduler",
        ),
        ("ServiceAccount", "kube-system", "generic-garbage-collector"),
    ] {
        assert!(exists(&idx, k, n, nm), "{k} {n}/{nm}");
    }
    let rules = |nm: &str| -> Vec<Value> {
        arr(idx[&("ClusterRole".to_string(), String::new(), nm.to_string())].get("rules")).to_vec()
    };
    let (admin, edit, view) = (rules("admin"), rules("edit"), rules("view"));
    assert!(!view.is_empty());
    // admin aggregates edit, which aggregates view.
    assert!(view.iter().all(|r| edit.contains(r)));
    assert!(edit.iter().all(|r| admin.contains(r)));
    assert!(admin.len() > edit.len() && edit.len() > view.len());
    let bootstrapped = objs
        .iter()
        .filter(|o| {
            o.pointer("/metadata/labels/kubernetes.io~1bootstrapping")
                == Some(&Value::from("rbac-defaults"))
        })
        .count();
    assert_eq!(bootstrapped, 141);
}
