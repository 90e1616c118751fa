//! What runs on the cluster: the flavor-dependent cluster services
//! (CNI, kube-proxy, DNS, logging, monitoring, ingress controller,
//! cert-manager, policy engine) and the application mix that fills the
//! rest of the pod budget, namespace by namespace.

use serde_json::{Value, json};

use super::catalog::{
    APP_NAMES, DB_RES, HARDENING, Hardening, MYSQL_IMAGES, NGINX_IMAGES, NO_RES, OWNERS,
    POSTGRES_IMAGES, REDIS_IMAGES, RESOURCES, Res, SIDECAR_IMAGES, SMALL_RES,
};
use super::infra::{rule, subject};
use super::network::{LbScheme, SvcPort, SvcSpec, SvcType};
use super::pods::{CtrSpec, Life, PodIn, Template};
use super::workloads::Wl;
use super::{Flavor, Gen, Meta, NsState, Obj, PodRef, kv, object};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Db {
    Mysql,
    Postgres,
    Redis,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arch {
    Web,
    Api,
    Worker,
    Db(Db),
    Cron,
    Job,
    Bare,
}

/// The first application workloads of a cluster cover every kind once.
const FORCED: &[Arch] = &[
    Arch::Web,
    Arch::Api,
    Arch::Db(Db::Mysql),
    Arch::Cron,
    Arch::Worker,
    Arch::Db(Db::Postgres),
    Arch::Web,
    Arch::Job,
    Arch::Bare,
    Arch::Db(Db::Redis),
    Arch::Api,
    Arch::Web,
    Arch::Db(Db::Mysql),
    Arch::Web,
];

const WEIGHTS: &[(Arch, u32)] = &[
    (Arch::Web, 22),
    (Arch::Api, 30),
    (Arch::Worker, 18),
    (Arch::Db(Db::Mysql), 3),
    (Arch::Db(Db::Postgres), 3),
    (Arch::Db(Db::Redis), 4),
    (Arch::Cron, 8),
    (Arch::Job, 4),
    (Arch::Bare, 2),
];

const PRIORITY_NODE: (&str, i64) = ("system-node-critical", 2_000_001_000);
const PRIORITY_CLUSTER: (&str, i64) = ("system-cluster-critical", 2_000_000_000);

fn port(name: &'static str, number: i64) -> (&'static str, i64, &'static str) {
    (name, number, "TCP")
}

fn host_path(name: &str, path: &str) -> Value {
    json!({"name": name, "hostPath": {"path": path, "type": ""}})
}

fn mount(name: &str, path: &str, read_only: bool) -> Value {
    if read_only {
        json!({"name": name, "mountPath": path, "readOnly": true})
    } else {
        json!({"name": name, "mountPath": path})
    }
}

fn svc_port(name: &'static str, port: i64, target: i64, named: bool) -> SvcPort {
    SvcPort {
        name,
        port,
        target,
        target_name: named.then_some(name),
        proto: "TCP",
    }
}

impl Gen<'_> {
    /// Takes exactly `n` pods from the budget, or none.
    fn grant_all(&mut self, n: usize) -> bool {
        if self.budget >= n {
            self.budget -= n;
            true
        } else {
            false
        }
    }

    fn sys_template(
        &mut self,
        ns: &mut NsState,
        sa: &str,
        labels: Obj,
        containers: Vec<CtrSpec>,
        tune: impl FnOnce(&mut PodIn),
    ) -> Template {
        self.service_account(ns, sa, false);
        let mut p = PodIn::new(containers, sa);
        tune(&mut p);
        self.template(labels, Obj::new(), p)
    }

    fn sys_wl<'a>(
        &mut self,
        ns: &'a NsState,
        name: &'a str,
        labels: &Obj,
        selector: Obj,
    ) -> Wl<'a> {
        let ago = self.d.range(3600, ns.ago.max(3601));
        Wl {
            ns: &ns.name,
            name,
            ago,
            labels: labels.clone(),
            selector,
        }
    }

    /// A simple ClusterIP Service for a cluster component.
    fn sys_service(
        &mut self,
        ns: &str,
        name: &str,
        selector: Obj,
        ports: Vec<SvcPort>,
        pods: &[PodRef],
        ty: SvcType,
    ) -> Option<String> {
        let ago = self.d.range(3600, self.cluster_age);
        self.service(
            SvcSpec {
                ns,
                name,
                ago,
                labels: selector.clone(),
                selector,
                ty,
                ports,
                cluster_ip: None,
            },
            pods,
        )
    }

    fn all_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len()).collect()
    }

    pub(crate) fn cluster_services(&mut self, system: &mut [NsState]) {
        self.kubernetes_service();
        for ns in system.iter_mut() {
            match ns.name.as_str() {
                "kube-system" => self.kube_system(ns),
                "logging" => self.logging(ns),
                "monitoring" => self.monitoring(ns),
                "ingress-nginx" => self.ingress_nginx(ns),
                "cert-manager" => self.cert_manager_install(ns),
                "gatekeeper-system" => self.gatekeeper_install(ns),
                _ => {}
            }
        }
    }

    fn kube_system(&mut self, ns: &mut NsState) {
        self.service_account(ns, "ci-admin", false);
        let all = self.all_nodes();
        let tolerate_all = vec![json!({"operator": "Exists"})];

        if self.grant_all(all.len()) {
            let labels = kv(&[("k8s-app", "aws-node")]);
            let cni = self.v.cni_image;
            let init_image = cni.replace("amazon-k8s-cni:", "amazon-k8s-cni-init:");
            let mut init = CtrSpec::new("aws-vpc-cni-init", &init_image, SMALL_RES);
            init.hardening = Hardening::Privileged;
            init.mounts = vec![mount("cni-bin-dir", "/host/opt/cni/bin", false)];
            let mut c = CtrSpec::new(
                "aws-node",
                cni,
                Res {
                    cpu_req: Some(("25m", 25)),
                    ..NO_RES
                },
            );
            c.ports = vec![port("metrics", 61678)];
            c.hardening = Hardening::NetAdmin;
            c.probes = true;
            c.env = vec![
                json!({"name": "AWS_VPC_K8S_CNI_LOGLEVEL", "value": "DEBUG"}),
                json!({"name": "MY_NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}),
            ];
            c.mounts = vec![
                mount("cni-bin-dir", "/host/opt/cni/bin", false),
                mount("cni-net-dir", "/host/etc/cni/net.d", false),
                mount("log-dir", "/host/var/log/aws-routed-eni", false),
                mount("xtables-lock", "/run/xtables.lock", false),
            ];
            let tol = tolerate_all.clone();
            let t = self.sys_template(ns, "aws-node", labels.clone(), vec![c], |p| {
                p.inits = vec![init];
                p.host_network = true;
                p.priority_class = Some(PRIORITY_NODE);
                p.tolerations = tol;
                p.volumes = vec![
                    host_path("cni-bin-dir", "/opt/cni/bin"),
                    host_path("cni-net-dir", "/etc/cni/net.d"),
                    host_path("log-dir", "/var/log/aws-routed-eni"),
                    host_path("xtables-lock", "/run/xtables.lock"),
                ];
            });
            let w = self.sys_wl(ns, "aws-node", &labels, labels.clone());
            self.daemonset(&w, &t, &all);
        }

        if self.grant_all(all.len()) {
            let labels = kv(&[("k8s-app", "kube-proxy")]);
            let cm = "kube-proxy-config";
            self.config_map(
                &ns.name,
                cm,
                kv(&[("config", "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\n")]),
                ns.ago,
            );
            let mut c = CtrSpec::new(
                "kube-proxy",
                self.v.kube_proxy_image,
                Res {
                    cpu_req: Some(("100m", 100)),
                    ..NO_RES
                },
            );
            c.hardening = Hardening::Privileged;
            c.args = Some(json!([
                "kube-proxy",
                "--v=2",
                "--config=/var/lib/kube-proxy-config/config",
                "--hostname-override=$(NODE_NAME)"
            ]));
            c.env = vec![
                json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}),
            ];
            c.mounts = vec![
                mount("varlog", "/var/log", false),
                mount("xtables-lock", "/run/xtables.lock", false),
                mount("lib-modules", "/lib/modules", true),
                mount("config", "/var/lib/kube-proxy-config/", false),
            ];
            let tol = tolerate_all.clone();
            let t = self.sys_template(ns, "kube-proxy", labels.clone(), vec![c], |p| {
                p.host_network = true;
                p.priority_class = Some(PRIORITY_NODE);
                p.tolerations = tol;
                p.volumes = vec![
                    host_path("varlog", "/var/log"),
                    host_path("xtables-lock", "/run/xtables.lock"),
                    host_path("lib-modules", "/lib/modules"),
                    json!({"name": "config", "configMap": {"name": cm, "defaultMode": 420}}),
                ];
            });
            let w = self.sys_wl(ns, "kube-proxy", &labels, labels.clone());
            self.daemonset(&w, &t, &all);
        }

        // CoreDNS behind the well-known kube-dns Service.
        let replicas = self.grant(2);
        let labels = kv(&[
            ("eks.amazonaws.com/component", "coredns"),
            ("k8s-app", "kube-dns"),
        ]);
        let selector = kv(&[("k8s-app", "kube-dns")]);
        self.config_map(
            &ns.name,
            "coredns",
            kv(&[("Corefile", ".:53 {\n    errors\n    health\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n      pods insecure\n      fallthrough in-addr.arpa ip6.arpa\n    }\n    prometheus :9153\n    forward . /etc/resolv.conf\n    cache 30\n    loop\n    reload\n    loadbalance\n}\n")]),
            ns.ago,
        );
        let mut c = CtrSpec::new(
            "coredns",
            self.v.coredns_image,
            Res {
                cpu_req: Some(("100m", 100)),
                mem_req: Some(("70Mi", 70 << 20)),
                cpu_lim: None,
                mem_lim: Some(("170Mi", 170 << 20)),
            },
        );
        c.ports = vec![
            ("dns", 53, "UDP"),
            ("dns-tcp", 53, "TCP"),
            port("metrics", 9153),
        ];
        c.hardening = Hardening::Hardened;
        c.probes = true;
        c.mounts = vec![mount("config-volume", "/etc/coredns", true)];
        let t = self.sys_template(ns, "coredns", labels.clone(), vec![c], |p| {
            p.priority_class = Some(PRIORITY_CLUSTER);
            p.tolerations = vec![json!({"key": "CriticalAddonsOnly", "operator": "Exists"})];
            p.volumes = vec![json!({"name": "config-volume", "configMap": {"name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}], "defaultMode": 420}})];
        });
        let w = self.sys_wl(ns, "coredns", &labels, selector.clone());
        let pods = self.deployment(&w, &t, replicas, Life::System);
        let ago = self.cluster_age;
        let mut svc_labels = selector.clone();
        svc_labels.insert("kubernetes.io/cluster-service".into(), "true".into());
        svc_labels.insert("kubernetes.io/name".into(), "CoreDNS".into());
        self.service(
            SvcSpec {
                ns: "kube-system",
                name: "kube-dns",
                ago,
                labels: svc_labels,
                selector,
                ty: SvcType::ClusterIp,
                ports: vec![
                    SvcPort {
                        name: "dns",
                        port: 53,
                        target: 53,
                        target_name: None,
                        proto: "UDP",
                    },
                    SvcPort {
                        name: "dns-tcp",
                        port: 53,
                        target: 53,
                        target_name: None,
                        proto: "TCP",
                    },
                    svc_port("metrics", 9153, 9153, false),
                ],
                cluster_ip: Some("172.20.0.10".into()),
            },
            &pods,
        );

        let replicas = self.grant(1);
        let labels = kv(&[("k8s-app", "metrics-server")]);
        let mut c = CtrSpec::new(
            "metrics-server",
            "registry.k8s.io/metrics-server/metrics-server:v0.7.1",
            Res {
                cpu_req: Some(("100m", 100)),
                mem_req: Some(("200Mi", 200 << 20)),
                ..NO_RES
            },
        );
        c.ports = vec![port("https", 10250)];
        c.hardening = Hardening::Hardened;
        c.probes = true;
        c.args = Some(json!([
            "--cert-dir=/tmp",
            "--secure-port=10250",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--metric-resolution=15s"
        ]));
        let t = self.sys_template(ns, "metrics-server", labels.clone(), vec![c], |p| {
            p.priority_class = Some(PRIORITY_CLUSTER);
            p.hardening = Hardening::Hardened;
        });
        let w = self.sys_wl(ns, "metrics-server", &labels, labels.clone());
        let pods = self.deployment(&w, &t, replicas, Life::System);
        self.sys_service(
            "kube-system",
            "metrics-server",
            labels,
            vec![svc_port("https", 443, 10250, true)],
            &pods,
            SvcType::ClusterIp,
        );
    }

    fn logging(&mut self, ns: &mut NsState) {
        let Some((image, everywhere)) = self.v.fluent_bit else {
            return;
        };
        let eligible: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| everywhere || self.nodes[i].logging)
            .collect();
        if !self.grant_all(eligible.len()) {
            return;
        }
        let labels = kv(&[
            ("app.kubernetes.io/instance", "fluent-bit"),
            ("app.kubernetes.io/name", "fluent-bit"),
        ]);
        self.config_map(
            &ns.name,
            "fluent-bit",
            kv(&[
                ("fluent-bit.conf", "[SERVICE]\n    Flush 1\n    Parsers_File parsers.conf\n[INPUT]\n    Name tail\n    Path /var/log/containers/*.log\n[OUTPUT]\n    Name cloudwatch_logs\n    Match *\n"),
                ("parsers.conf", "[PARSER]\n    Name docker\n    Format json\n"),
            ]),
            ns.ago,
        );
        self.cluster_role(
            "fluent-bit",
            Obj::new(),
            Obj::new(),
            vec![rule(
                &[""],
                &["namespaces", "pods"],
                &["get", "list", "watch"],
            )],
        );
        self.cluster_role_binding(
            "fluent-bit",
            "fluent-bit",
            vec![subject("ServiceAccount", "fluent-bit", Some(&ns.name))],
            Obj::new(),
        );
        let mut c = CtrSpec::new(
            "fluent-bit",
            image,
            Res {
                cpu_req: Some(("50m", 50)),
                mem_req: Some(("64Mi", 64 << 20)),
                cpu_lim: None,
                mem_lim: Some(("256Mi", 256 << 20)),
            },
        );
        c.ports = vec![port("http", 2020)];
        c.probes = true;
        c.mounts = vec![
            mount("config", "/fluent-bit/etc/", false),
            mount("varlog", "/var/log", false),
            mount("varlibdockercontainers", "/var/lib/docker/containers", true),
        ];
        let t = self.sys_template(ns, "fluent-bit", labels.clone(), vec![c], |p| {
            p.tolerations = vec![json!({"operator": "Exists"})];
            p.priority_class = Some(PRIORITY_NODE);
            if !everywhere {
                p.node_selector = Some(kv(&[("kq.example.com/logging", "enabled")]));
            }
            p.volumes = vec![
                json!({"name": "config", "configMap": {"name": "fluent-bit", "defaultMode": 420}}),
                host_path("varlog", "/var/log"),
                host_path("varlibdockercontainers", "/var/lib/docker/containers"),
            ];
        });
        let w = self.sys_wl(ns, "fluent-bit", &labels, labels.clone());
        let pods = self.daemonset(&w, &t, &eligible);
        self.sys_service(
            "logging",
            "fluent-bit",
            labels,
            vec![svc_port("http", 2020, 2020, true)],
            &pods,
            SvcType::ClusterIp,
        );
    }

    fn monitoring(&mut self, ns: &mut NsState) {
        self.cluster_role(
            "prometheus",
            Obj::new(),
            Obj::new(),
            vec![
                rule(
                    &[""],
                    &["nodes", "nodes/metrics", "services", "endpoints", "pods"],
                    &["get", "list", "watch"],
                ),
                json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}),
            ],
        );
        self.cluster_role_binding(
            "prometheus",
            "prometheus",
            vec![subject("ServiceAccount", "prometheus", Some(&ns.name))],
            Obj::new(),
        );
        self.cluster_role(
            "kube-state-metrics",
            Obj::new(),
            Obj::new(),
            vec![rule(&["*"], &["*"], &["list", "watch"])],
        );
        self.cluster_role_binding(
            "kube-state-metrics",
            "kube-state-metrics",
            vec![subject(
                "ServiceAccount",
                "kube-state-metrics",
                Some(&ns.name),
            )],
            Obj::new(),
        );

        let all = self.all_nodes();
        if self.grant_all(all.len()) {
            let labels = kv(&[
                ("app.kubernetes.io/component", "exporter"),
                ("app.kubernetes.io/name", "node-exporter"),
            ]);
            let mut c = CtrSpec::new(
                "node-exporter",
                self.v.node_exporter,
                Res {
                    cpu_req: Some(("100m", 100)),
                    mem_req: Some(("180Mi", 180 << 20)),
                    cpu_lim: Some(("250m", 250)),
                    mem_lim: Some(("180Mi", 180 << 20)),
                },
            );
            c.ports = vec![port("metrics", 9100)];
            c.hardening = Hardening::Partial;
            c.probes = true;
            c.args = Some(json!([
                "--path.procfs=/host/proc",
                "--path.sysfs=/host/sys",
                "--path.rootfs=/host/root"
            ]));
            c.mounts = vec![
                mount("proc", "/host/proc", true),
                mount("sys", "/host/sys", true),
                mount("root", "/host/root", true),
            ];
            let t = self.sys_template(ns, "node-exporter", labels.clone(), vec![c], |p| {
                p.host_network = true;
                p.host_pid = true;
                p.automount = false;
                p.tolerations = vec![json!({"operator": "Exists"})];
                p.volumes = vec![
                    host_path("proc", "/proc"),
                    host_path("sys", "/sys"),
                    host_path("root", "/"),
                ];
            });
            let w = self.sys_wl(ns, "node-exporter", &labels, labels.clone());
            let pods = self.daemonset(&w, &t, &all);
            self.sys_service(
                "monitoring",
                "node-exporter",
                labels,
                vec![svc_port("metrics", 9100, 9100, true)],
                &pods,
                SvcType::ClusterIp,
            );
        }

        let want = if matches!(self.flavor, Flavor::Prod) {
            2
        } else {
            1
        };
        let replicas = self.grant(want);
        let labels = kv(&[("app.kubernetes.io/name", "prometheus")]);
        self.config_map(
            &ns.name,
            "prometheus-config",
            kv(&[("prometheus.yml", "global:\n  scrape_interval: 30s\nscrape_configs:\n  - job_name: kubernetes-pods\n    kubernetes_sd_configs:\n      - role: pod\n")]),
            ns.ago,
        );
        let mut c = CtrSpec::new(
            "prometheus",
            self.v.prometheus,
            Res {
                cpu_req: Some(("500m", 500)),
                mem_req: Some(("2Gi", 2 << 30)),
                cpu_lim: Some(("2", 2000)),
                mem_lim: Some(("4Gi", 4 << 30)),
            },
        );
        c.ports = vec![port("web", 9090)];
        c.hardening = Hardening::Hardened;
        c.probes = true;
        c.mounts = vec![
            mount("config", "/etc/prometheus", true),
            mount("data", "/prometheus", false),
        ];
        let t = self.sys_template(ns, "prometheus", labels.clone(), vec![c], |p| {
            p.hardening = Hardening::Hardened;
            p.volumes = vec![json!({"name": "config", "configMap": {"name": "prometheus-config", "defaultMode": 420}})];
        });
        let w = self.sys_wl(ns, "prometheus", &labels, labels.clone());
        let pods = self.statefulset(
            &w,
            &t,
            replicas,
            "prometheus-operated",
            Some(("50Gi", "gp3")),
        );
        self.sys_service(
            "monitoring",
            "prometheus-operated",
            labels.clone(),
            vec![svc_port("web", 9090, 9090, true)],
            &pods,
            SvcType::Headless,
        );
        self.sys_service(
            "monitoring",
            "prometheus",
            labels,
            vec![svc_port("web", 9090, 9090, true)],
            &pods,
            SvcType::ClusterIp,
        );

        let replicas = self.grant(1);
        let labels = kv(&[("app.kubernetes.io/name", "kube-state-metrics")]);
        let mut c = CtrSpec::new(
            "kube-state-metrics",
            self.v.kube_state_metrics,
            Res {
                cpu_req: Some(("10m", 10)),
                mem_req: Some(("190Mi", 190 << 20)),
                ..NO_RES
            },
        );
        c.ports = vec![port("http-metrics", 8080)];
        c.hardening = Hardening::Hardened;
        c.probes = true;
        let t = self.sys_template(ns, "kube-state-metrics", labels.clone(), vec![c], |p| {
            p.hardening = Hardening::Hardened;
        });
        let w = self.sys_wl(ns, "kube-state-metrics", &labels, labels.clone());
        let pods = self.deployment(&w, &t, replicas, Life::System);
        self.sys_service(
            "monitoring",
            "kube-state-metrics",
            labels,
            vec![svc_port("http-metrics", 8080, 8080, true)],
            &pods,
            SvcType::ClusterIp,
        );
    }

    fn ingress_nginx(&mut self, ns: &mut NsState) {
        self.ingress_class("nginx", "k8s.io/ingress-nginx", true);
        self.cluster_role(
            "ingress-nginx",
            Obj::new(),
            Obj::new(),
            vec![
                rule(
                    &[""],
                    &[
                        "configmaps",
                        "endpoints",
                        "nodes",
                        "pods",
                        "secrets",
                        "namespaces",
                    ],
                    &["list", "watch"],
                ),
                rule(
                    &["networking.k8s.io"],
                    &["ingresses", "ingressclasses"],
                    &["get", "list", "watch"],
                ),
                rule(&["networking.k8s.io"], &["ingresses/status"], &["update"]),
            ],
        );
        self.cluster_role_binding(
            "ingress-nginx",
            "ingress-nginx",
            vec![subject("ServiceAccount", "ingress-nginx", Some(&ns.name))],
            Obj::new(),
        );
        self.config_map(
            &ns.name,
            "ingress-nginx-controller",
            kv(&[
                ("allow-snippet-annotations", "false"),
                ("use-forwarded-headers", "true"),
            ]),
            ns.ago,
        );
        let want = if matches!(self.flavor, Flavor::Prod) {
            3
        } else {
            2
        };
        let replicas = self.grant(want);
        let labels = kv(&[
            ("app.kubernetes.io/component", "controller"),
            ("app.kubernetes.io/instance", "ingress-nginx"),
            ("app.kubernetes.io/name", "ingress-nginx"),
        ]);
        let mut c = CtrSpec::new(
            "controller",
            self.v.ingress_nginx,
            Res {
                cpu_req: Some(("100m", 100)),
                mem_req: Some(("90Mi", 90 << 20)),
                ..NO_RES
            },
        );
        c.ports = vec![port("http", 80), port("https", 443), port("webhook", 8443)];
        c.hardening = Hardening::Partial;
        c.probes = true;
        c.args = Some(json!([
            "/nginx-ingress-controller",
            "--publish-service=$(POD_NAMESPACE)/ingress-nginx-controller",
            "--election-id=ingress-nginx-leader",
            "--controller-class=k8s.io/ingress-nginx",
            "--ingress-class=nginx",
            "--configmap=$(POD_NAMESPACE)/ingress-nginx-controller"
        ]));
        c.env = vec![
            json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}),
            json!({"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}}),
        ];
        let t = self.sys_template(ns, "ingress-nginx", labels.clone(), vec![c], |_| {});
        let w = self.sys_wl(ns, "ingress-nginx-controller", &labels, labels.clone());
        let pods = self.deployment(&w, &t, replicas, Life::System);
        self.ingress_lb = self.sys_service(
            "ingress-nginx",
            "ingress-nginx-controller",
            labels.clone(),
            vec![
                svc_port("http", 80, 80, true),
                svc_port("https", 443, 443, true),
            ],
            &pods,
            SvcType::LoadBalancer {
                scheme: LbScheme::ExternalNlb,
                source_ranges: false,
            },
        );
        self.sys_service(
            "ingress-nginx",
            "ingress-nginx-controller-admission",
            labels,
            vec![svc_port("https-webhook", 443, 8443, false)],
            &pods,
            SvcType::ClusterIp,
        );
    }

    fn cert_manager_install(&mut self, ns: &mut NsState) {
        let Some(version) = self.v.cert_manager else {
            return;
        };
        self.cert_manager = true;
        self.cluster_role(
            "cert-manager-controller-certificates",
            Obj::new(),
            Obj::new(),
            vec![
                rule(
                    &["cert-manager.io"],
                    &[
                        "certificates",
                        "certificates/status",
                        "certificaterequests",
                        "certificaterequests/status",
                    ],
                    &[
                        "update", "patch", "get", "list", "watch", "create", "delete",
                    ],
                ),
                rule(
                    &[""],
                    &["secrets"],
                    &[
                        "get", "list", "watch", "create", "update", "delete", "patch",
                    ],
                ),
            ],
        );
        self.cluster_role_binding(
            "cert-manager-controller-certificates",
            "cert-manager-controller-certificates",
            vec![subject("ServiceAccount", "cert-manager", Some(&ns.name))],
            Obj::new(),
        );
        for (name, component, image, ports) in [
            (
                "cert-manager",
                "controller",
                "quay.io/jetstack/cert-manager-controller",
                vec![port("http-metrics", 9402)],
            ),
            (
                "cert-manager-cainjector",
                "cainjector",
                "quay.io/jetstack/cert-manager-cainjector",
                vec![],
            ),
            (
                "cert-manager-webhook",
                "webhook",
                "quay.io/jetstack/cert-manager-webhook",
                vec![port("https", 10250)],
            ),
        ] {
            let replicas = self.grant(1);
            let labels = kv(&[
                ("app.kubernetes.io/component", component),
                ("app.kubernetes.io/instance", "cert-manager"),
                ("app.kubernetes.io/name", name),
                ("app.kubernetes.io/version", version),
            ]);
            let selector = kv(&[
                ("app.kubernetes.io/component", component),
                ("app.kubernetes.io/instance", "cert-manager"),
                ("app.kubernetes.io/name", name),
            ]);
            let mut c = CtrSpec::new(
                &format!("cert-manager-{component}"),
                &format!("{image}:{version}"),
                NO_RES,
            );
            c.ports = ports.clone();
            c.hardening = Hardening::Hardened;
            let t = self.sys_template(ns, name, labels.clone(), vec![c], |p| {
                p.hardening = Hardening::Hardened;
            });
            let w = self.sys_wl(ns, name, &labels, selector.clone());
            let pods = self.deployment(&w, &t, replicas, Life::System);
            if let Some((pname, pnum, _)) = ports.first() {
                let svc_port_num = if *pnum == 10250 { 443 } else { *pnum };
                self.sys_service(
                    "cert-manager",
                    name,
                    selector,
                    vec![svc_port(pname, svc_port_num, *pnum, true)],
                    &pods,
                    SvcType::ClusterIp,
                );
            }
        }
        let key = "letsencrypt-prod-account-key";
        let pem = format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
            self.d.hex(64)
        );
        self.secret(
            &ns.name,
            key,
            "Opaque",
            vec![("tls.key", pem)],
            Obj::new(),
            ns.ago,
        );
        for (name, spec) in [
            (
                "letsencrypt-prod",
                json!({"acme": {
                    "server": "https://acme-v02.api.letsencrypt.org/directory",
                    "email": "sre@example.com",
                    "privateKeySecretRef": {"name": key},
                    "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
                }}),
            ),
            ("selfsigned", json!({"selfSigned": {}})),
        ] {
            let uid = self.d.uid();
            let meta = Meta {
                name,
                namespace: None,
                uid: &uid,
                ago: ns.ago,
                labels: Obj::new(),
                annotations: Obj::new(),
                owner: None,
            }
            .build();
            self.emit(object(
                "cert-manager.io/v1",
                "ClusterIssuer",
                meta,
                Some(spec),
                Some(json!({"conditions": [{"type": "Ready", "status": "True", "reason": "ACMEAccountRegistered", "message": "The ACME account was registered with the ACME server", "lastTransitionTime": super::dice::ts(ns.ago), "observedGeneration": 1}]})),
            ));
        }
    }

    fn gatekeeper_install(&mut self, ns: &mut NsState) {
        let Some(version) = self.v.gatekeeper else {
            return;
        };
        self.cluster_role(
            "gatekeeper-manager-role",
            kv(&[("gatekeeper.sh/system", "yes")]),
            Obj::new(),
            vec![
                rule(&["*"], &["*"], &["get", "list", "watch"]),
                rule(
                    &["constraints.gatekeeper.sh", "templates.gatekeeper.sh"],
                    &["*"],
                    &["*"],
                ),
                rule(
                    &["admissionregistration.k8s.io"],
                    &[
                        "validatingwebhookconfigurations",
                        "mutatingwebhookconfigurations",
                    ],
                    &["get", "list", "watch", "update", "patch"],
                ),
            ],
        );
        self.cluster_role_binding(
            "gatekeeper-manager-rolebinding",
            "gatekeeper-manager-role",
            vec![subject(
                "ServiceAccount",
                "gatekeeper-admin",
                Some(&ns.name),
            )],
            Obj::new(),
        );
        let image = format!("openpolicyagent/gatekeeper:{version}");
        let mut first_pods = Vec::new();
        for (name, operation, want) in [
            (
                "gatekeeper-controller-manager",
                "webhook",
                if matches!(self.flavor, Flavor::Prod) {
                    3
                } else {
                    2
                },
            ),
            ("gatekeeper-audit", "audit", 1),
        ] {
            let replicas = self.grant(want);
            let labels = kv(&[
                ("app", "gatekeeper"),
                (
                    "control-plane",
                    if operation == "audit" {
                        "audit-controller"
                    } else {
                        "controller-manager"
                    },
                ),
                ("gatekeeper.sh/operation", operation),
                ("gatekeeper.sh/system", "yes"),
            ]);
            let mut c = CtrSpec::new(
                "manager",
                &image,
                Res {
                    cpu_req: Some(("100m", 100)),
                    mem_req: Some(("512Mi", 512 << 20)),
                    cpu_lim: None,
                    mem_lim: Some(("512Mi", 512 << 20)),
                },
            );
            c.ports = vec![
                port("webhook-server", 8443),
                port("metrics", 8888),
                port("healthz", 9090),
            ];
            c.hardening = Hardening::Hardened;
            c.probes = true;
            c.args = Some(json!([
                format!("--operation={operation}"),
                "--logtostderr",
                "--log-level=INFO"
            ]));
            let t = self.sys_template(ns, "gatekeeper-admin", labels.clone(), vec![c], |p| {
                p.priority_class = Some(PRIORITY_CLUSTER);
                p.hardening = Hardening::Hardened;
            });
            let w = self.sys_wl(ns, name, &labels, labels.clone());
            let pods = self.deployment(&w, &t, replicas, Life::System);
            if operation == "webhook" {
                first_pods = pods;
            }
        }
        self.sys_service(
            "gatekeeper-system",
            "gatekeeper-webhook-service",
            kv(&[
                ("app", "gatekeeper"),
                ("control-plane", "controller-manager"),
                ("gatekeeper.sh/operation", "webhook"),
                ("gatekeeper.sh/system", "yes"),
            ]),
            vec![svc_port("https-webhook-server", 443, 8443, false)],
            &first_pods,
            SvcType::ClusterIp,
        );
    }

    // ---------------------------------------------------------------- apps

    /// Splits the remaining pod budget over the application namespaces.
    pub(crate) fn applications(&mut self, apps: &mut [NsState]) {
        let total = self.budget;
        self.budget = 0;
        let weights: Vec<usize> = (0..apps.len())
            .map(|_| self.d.range(1, 10) as usize)
            .collect();
        let sum: usize = weights.iter().sum::<usize>().max(1);
        let mut shares: Vec<usize> = weights
            .iter()
            .map(|w| (total as u128 * *w as u128 / sum as u128) as usize)
            .collect();
        let mut rest = total - shares.iter().sum::<usize>();
        let mut i = 0;
        let slots = shares.len();
        while rest > 0 && slots > 0 {
            shares[i % slots] += 1;
            rest -= 1;
            i += 1;
        }
        for (ns, share) in apps.iter_mut().zip(shares) {
            self.app_namespace(ns, share);
        }
    }

    fn next_arch(&mut self) -> Arch {
        let k = self.seq.workload;
        self.seq.workload += 1;
        match FORCED.get(k) {
            Some(a) => *a,
            None => *self.d.weighted(WEIGHTS),
        }
    }

    fn want(&mut self, arch: Arch) -> usize {
        let big = self.d.chance(0.1);
        let n = match arch {
            Arch::Web if big => self.d.range(6, 30),
            Arch::Web => self.d.range(1, 5),
            Arch::Api if big => self.d.range(8, 40),
            Arch::Api => self.d.range(2, 8),
            Arch::Worker => self.d.range(1, 5),
            Arch::Db(_) => self.d.range(1, 3),
            Arch::Cron => self.d.range(1, 3),
            Arch::Job | Arch::Bare => 1,
        };
        n as usize
    }

    fn app_namespace(&mut self, ns: &mut NsState, share: usize) {
        if ns.limit_range {
            self.limit_range(ns);
        }
        self.namespace_rbac(ns);
        let mut left = share;
        let mut first = true;
        let (mut cpu, mut mem, mut pods) = (0u64, 0u64, 0usize);
        let mut exposed: Option<(String, i64)> = None;
        while left > 0 || first {
            first = false;
            let arch = if left == 0 {
                Arch::Worker
            } else {
                self.next_arch()
            };
            let n = self.want(arch).min(left);
            left -= n;
            let refs = self.app(ns, arch, n, &mut exposed);
            for r in refs.iter().filter(|r| !r.terminal) {
                cpu += r.cpu;
                mem += r.mem;
                pods += 1;
            }
        }
        if ns.limit_range && self.d.chance(0.8) {
            self.resource_quota(ns, cpu, mem, pods);
        }
        let netpol_share = match self.flavor {
            Flavor::Prod => 0.6,
            Flavor::Staging => 0.4,
            Flavor::Dev => 0.15,
            Flavor::Generic => 0.5,
        };
        if self.d.chance(netpol_share) {
            let allow = exposed.as_ref().map(|(a, p)| (a.as_str(), *p));
            self.network_policies(ns, allow);
        }
    }

    fn namespace_rbac(&mut self, ns: &mut NsState) {
        let group = format!("team-{}", ns.team);
        self.role_binding(
            ns,
            "app-deployer",
            Some(vec![
                rule(
                    &["apps"],
                    &["deployments", "replicasets", "statefulsets"],
                    &["get", "list", "watch", "update", "patch"],
                ),
                rule(&[""], &["pods", "pods/log"], &["get", "list", "watch"]),
            ]),
            None,
            vec![
                subject("Group", &group, None),
                subject("ServiceAccount", "default", Some(&ns.name)),
            ],
        );
        if self.d.chance(0.35) {
            let owner = *self.d.pick(OWNERS);
            self.role_binding(
                ns,
                "secret-manager",
                Some(vec![rule(&[""], &["secrets"], &["*"])]),
                None,
                vec![subject("User", owner, None)],
            );
        }
        if self.d.chance(0.3) {
            self.role_binding(
                ns,
                "team-edit",
                None,
                Some("edit"),
                vec![subject("Group", &format!("{}-devs", ns.team), None)],
            );
        }
        if self.d.chance(0.1) {
            let owner = *self.d.pick(OWNERS);
            self.role_binding(
                ns,
                "ns-admin",
                None,
                Some("admin"),
                vec![subject("User", owner, None)],
            );
        }
        if self.d.chance(0.1) {
            self.role_binding(
                ns,
                "pod-creator",
                Some(vec![rule(&[""], &["pods"], &["create", "get", "list"])]),
                None,
                vec![subject("ServiceAccount", "default", Some(&ns.name))],
            );
        }
        if ns.name == "team-a" {
            self.role_binding(
                ns,
                "team-a-viewers",
                None,
                Some("view"),
                vec![subject("User", "viewer@example.com", None)],
            );
        }
    }

    /// Resources for an app container; namespaces with a LimitRange only
    /// get fully specified ones (the LimitRange would default the rest).
    fn app_res(&mut self, ns: &NsState) -> Res {
        if ns.limit_range {
            let full: Vec<(Res, u32)> = RESOURCES
                .iter()
                .filter(|(r, _)| {
                    r.cpu_req.is_some()
                        && r.mem_req.is_some()
                        && r.cpu_lim.is_some()
                        && r.mem_lim.is_some()
                })
                .copied()
                .collect();
            *self.d.weighted(&full)
        } else {
            *self.d.weighted(RESOURCES)
        }
    }

    fn version(&mut self) -> String {
        format!(
            "{}.{}.{}",
            self.d.range(0, 4),
            self.d.range(0, 30),
            self.d.range(0, 20)
        )
    }

    fn app_image(&mut self, ns: &NsState, app: &str) -> String {
        let trusted = match ns.registry_style {
            0 => true,
            1 => !self.d.chance(0.2),
            2 => self.d.chance(0.5),
            _ => self.d.chance(0.15),
        };
        let ver = self.version();
        let team = ns.team.clone();
        let region = self.v.region;
        if trusted {
            match self.d.below(20) {
                0..=9 => format!("registry.corp.example.com/{team}/{app}:{ver}"),
                10..=16 => format!("123456789012.dkr.ecr.{region}.amazonaws.com/{app}:{ver}"),
                _ => format!(
                    "registry.corp.example.com/{team}/{app}:{ver}@sha256:{}",
                    self.d.hex(64)
                ),
            }
        } else {
            match self.d.below(20) {
                0..=4 => format!("ghcr.io/acme/{app}:v{ver}"),
                5..=8 => format!("quay.io/acme/{app}@sha256:{}", self.d.hex(64)),
                9..=11 => format!("docker.io/acme/{app}:latest"),
                12..=13 => format!("acme/{app}"),
                14..=15 => format!("localhost:5000/{app}:1.2"),
                _ => format!("docker.io/acme/{app}:{ver}"),
            }
        }
    }

    fn ensure_config(&mut self, ns: &mut NsState, name: &str, ago: i64) {
        if ns.names.insert(format!("cm/{name}")) {
            let data = kv(&[
                ("LOG_LEVEL", "info"),
                (
                    "app.properties",
                    "server.port=8080\nmanagement.port=9090\nfeature.flags=checkout-v2,search-v3\n",
                ),
            ]);
            let ns_name = ns.name.clone();
            self.config_map(&ns_name, name, data, ago);
        }
    }

    fn ensure_secret(&mut self, ns: &mut NsState, name: &str, keys: &[&str], ago: i64) {
        if ns.names.insert(format!("secret/{name}")) {
            let data: Vec<(&str, String)> = keys.iter().map(|k| (*k, self.d.hex(24))).collect();
            let ns_name = ns.name.clone();
            self.secret(&ns_name, name, "Opaque", data, Obj::new(), ago);
        }
    }

    fn ensure_regcred(&mut self, ns: &mut NsState) {
        if !ns.regcred {
            ns.regcred = true;
            let auth = super::infra::b64(&format!("robot:{}", self.d.hex(20)));
            let cfg =
                format!("{{\"auths\":{{\"registry.corp.example.com\":{{\"auth\":\"{auth}\"}}}}}}");
            let ns_name = ns.name.clone();
            let ago = ns.ago;
            self.secret(
                &ns_name,
                "regcred",
                "kubernetes.io/dockerconfigjson",
                vec![(".dockerconfigjson", cfg)],
                Obj::new(),
                ago,
            );
        }
    }

    /// One application workload of `n` pods with its Services, Ingress, HPA, PDB.
    fn app(
        &mut self,
        ns: &mut NsState,
        arch: Arch,
        n: usize,
        exposed: &mut Option<(String, i64)>,
    ) -> Vec<PodRef> {
        let base = match arch {
            Arch::Web => self
                .d
                .pick(&["frontend", "web", "storefront", "portal"])
                .to_string(),
            Arch::Api => self.d.pick(APP_NAMES).to_string(),
            Arch::Worker => format!("{}-worker", self.d.pick(APP_NAMES)),
            Arch::Db(Db::Mysql) => "mysql".into(),
            Arch::Db(Db::Postgres) => "postgres".into(),
            Arch::Db(Db::Redis) => "redis".into(),
            Arch::Cron => format!(
                "{}-{}",
                self.d.pick(APP_NAMES),
                self.d.pick(&["cleanup", "report", "sync", "backup"])
            ),
            Arch::Job => "db-migrate".into(),
            Arch::Bare => format!("debug-{}", self.d.suffix(5)),
        };
        let name = Gen::unique_name(ns, &base);
        // One-off jobs and debug pods are recent; the rest live as long as their namespace.
        let max_age = match arch {
            Arch::Job | Arch::Bare => ns.ago.min(7 * 86_400),
            _ => ns.ago,
        };
        let ago = self.d.range(3600, max_age.max(3601));
        let tier = match arch {
            Arch::Web => "frontend",
            Arch::Api => "backend",
            Arch::Worker | Arch::Cron | Arch::Job => "worker",
            Arch::Db(_) => "database",
            Arch::Bare => "debug",
        };
        let part_of = ns.team.clone();
        let labels = kv(&[
            ("app", &name),
            ("app.kubernetes.io/name", &name),
            ("app.kubernetes.io/part-of", &part_of),
            ("tier", tier),
        ]);
        let pod_labels = kv(&[
            ("app", &name),
            ("app.kubernetes.io/name", &name),
            ("tier", tier),
        ]);
        let selector = kv(&[("app", &name)]);

        // Main container.
        let (image, container_port) = match arch {
            Arch::Web if self.d.chance(0.5) => {
                let img = self.d.pick(NGINX_IMAGES).to_string();
                let p = if img.contains("unprivileged") || img.starts_with("localhost") {
                    8080
                } else {
                    80
                };
                (img, p)
            }
            Arch::Db(Db::Mysql) => (self.d.pick(MYSQL_IMAGES).to_string(), 3306),
            Arch::Db(Db::Postgres) => (self.d.pick(POSTGRES_IMAGES).to_string(), 5432),
            Arch::Db(Db::Redis) => (self.d.pick(REDIS_IMAGES).to_string(), 6379),
            Arch::Bare => (
                self.d
                    .pick(&[
                        "nicolaka/netshoot:latest",
                        "busybox",
                        "ubuntu:22.04",
                        "alpine:3.19",
                    ])
                    .to_string(),
                0,
            ),
            Arch::Cron | Arch::Job if self.d.chance(0.3) => (
                self.d
                    .pick(&[
                        "bitnami/kubectl:1.29",
                        "amazon/aws-cli:2.15.30",
                        "postgres:15",
                    ])
                    .to_string(),
                0,
            ),
            _ => (self.app_image(ns, &name), 8080),
        };
        let container_port = if matches!(arch, Arch::Cron | Arch::Job) {
            0
        } else {
            container_port
        };
        let res = match arch {
            Arch::Db(_) if !ns.limit_range && self.d.chance(0.3) => self.app_res(ns),
            Arch::Db(_) => DB_RES,
            _ => self.app_res(ns),
        };
        let mut c = CtrSpec::new(&name, &image, res);
        c.hardening = *self.d.weighted(HARDENING);
        let ctr_name: &'static str = match arch {
            Arch::Db(Db::Mysql) => "mysql",
            Arch::Db(Db::Postgres) => "postgresql",
            Arch::Db(Db::Redis) => "redis",
            _ => "http",
        };
        if container_port > 0 {
            c.ports.push(port(ctr_name, container_port));
        }
        if arch == Arch::Api {
            c.ports.push(port("metrics", 9090));
        }
        let probe_share = match arch {
            Arch::Web | Arch::Api => 0.7,
            Arch::Db(_) => 0.8,
            Arch::Worker => 0.3,
            _ => 0.0,
        };
        c.probes = container_port > 0 && self.d.chance(probe_share);
        let mut volumes = Vec::new();
        let mut inits = Vec::new();
        let mut sidecars = Vec::new();
        let cfg = format!("{name}-config");
        let sec = format!("{name}-secrets");
        match arch {
            Arch::Api | Arch::Web
                if image.contains("acme") || image.contains("corp") || image.contains("ecr") =>
            {
                self.ensure_config(ns, &cfg, ago);
                c.env_from.push(json!({"configMapRef": {"name": cfg}}));
                c.mounts
                    .push(mount("config", &format!("/etc/{name}"), true));
                volumes.push(
                    json!({"name": "config", "configMap": {"name": cfg, "defaultMode": 420}}),
                );
                if self.d.chance(0.6) {
                    self.ensure_secret(ns, &sec, &["db-password", "api-key"], ago);
                    c.env.push(json!({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": sec, "key": "db-password"}}}));
                }
                c.env.push(json!({"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}));
            }
            Arch::Worker => {
                self.ensure_secret(ns, &sec, &["db-password", "api-key"], ago);
                c.env_from.push(json!({"secretRef": {"name": sec}}));
                c.env
                    .push(json!({"name": "QUEUE", "value": format!("{name}-jobs")}));
            }
            Arch::Db(kind) => {
                let cred = format!("{name}-credentials");
                let (var, key) = match kind {
                    Db::Mysql => ("MYSQL_ROOT_PASSWORD", "root-password"),
                    Db::Postgres => ("POSTGRES_PASSWORD", "postgres-password"),
                    Db::Redis => ("REDIS_PASSWORD", "redis-password"),
                };
                self.ensure_secret(ns, &cred, &[key], ago);
                c.env.push(
                    json!({"name": var, "valueFrom": {"secretKeyRef": {"name": cred, "key": key}}}),
                );
                let path = match kind {
                    Db::Mysql => "/var/lib/mysql",
                    Db::Postgres => "/var/lib/postgresql/data",
                    Db::Redis => "/data",
                };
                c.mounts.push(mount("data", path, false));
                if kind == Db::Mysql && self.d.chance(0.5) {
                    let mut init = CtrSpec::new("init-permissions", "busybox:1.36", SMALL_RES);
                    init.hardening = Hardening::Root;
                    init.args = Some(json!(["sh", "-c", "chown -R 999:999 /var/lib/mysql"]));
                    init.mounts.push(mount("data", path, false));
                    inits.push(init);
                }
            }
            Arch::Cron | Arch::Job => {
                self.ensure_secret(ns, &sec, &["db-password"], ago);
                c.env.push(json!({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": sec, "key": "db-password"}}}));
                c.args = Some(json!(["run", "--once"]));
            }
            Arch::Bare => {
                c.args = Some(json!(["sleep", "infinity"]));
            }
            _ => {}
        }
        if c.hardening == Hardening::Hardened {
            c.mounts.push(mount("tmp", "/tmp", false));
            volumes.push(json!({"name": "tmp", "emptyDir": {}}));
        }
        if matches!(arch, Arch::Api | Arch::Web) {
            if self.d.chance(0.25) {
                let (sname, simg) = *self.d.pick(SIDECAR_IMAGES);
                let mut s = CtrSpec::new(sname, simg, SMALL_RES);
                s.hardening = Hardening::Partial;
                sidecars.push(s);
            }
            if self.d.chance(0.08) {
                let mut s = CtrSpec::new("vault-agent", "hashicorp/vault:1.15.4", SMALL_RES);
                s.sidecar = true;
                s.hardening = Hardening::Hardened;
                inits.push(s);
            }
            if self.d.chance(0.25) {
                let mut i = CtrSpec::new("wait-for-deps", "busybox:1.36", SMALL_RES);
                i.args = Some(json!([
                    "sh",
                    "-c",
                    "until nslookup kube-dns.kube-system.svc.cluster.local; do sleep 2; done"
                ]));
                inits.push(i);
            }
        }
        let host_docker = arch == Arch::Worker && self.d.chance(0.03);
        if host_docker {
            c.mounts
                .push(mount("docker-sock", "/var/run/docker.sock", false));
            volumes.push(json!({"name": "docker-sock", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}}));
        }

        // The first debug pod is the worst case: privileged on the host's namespaces.
        let nasty_debug = arch == Arch::Bare && self.debug_is_privileged();
        if nasty_debug {
            c.hardening = Hardening::Privileged;
            c.mounts.push(mount("host", "/host", false));
            volumes.push(host_path("host", "/"));
        }
        let sa = if matches!(arch, Arch::Bare) || self.d.chance(0.4) {
            "default".to_string()
        } else {
            name.clone()
        };
        let no_automount = sa != "default" && self.d.chance(0.25);
        self.service_account(ns, &sa, no_automount);
        let mut containers = vec![c];
        containers.extend(sidecars);
        let mut p = PodIn::new(containers, &sa);
        p.inits = inits;
        p.volumes = volumes;
        p.automount = !no_automount;
        p.hardening = match containers_hardening(&p) {
            Hardening::Hardened => Hardening::Hardened,
            Hardening::Partial => Hardening::Partial,
            _ => Hardening::Unset,
        };
        p.host_network = nasty_debug || (arch == Arch::Worker && self.d.chance(0.01));
        p.host_pid = nasty_debug;
        if matches!(arch, Arch::Cron | Arch::Job) {
            p.restart_policy = if self.d.chance(0.5) {
                "Never"
            } else {
                "OnFailure"
            };
        }
        if image.starts_with("registry.corp.example.com") {
            self.ensure_regcred(ns);
            p.pull_secret = Some("regcred".into());
        }
        let mut annotations = Obj::new();
        if arch == Arch::Api || self.d.chance(0.2) {
            annotations.insert("prometheus.io/scrape".into(), "true".into());
            annotations.insert("prometheus.io/port".into(), "9090".into());
        }
        if self.d.chance(0.1) {
            annotations.insert(
                "kubectl.kubernetes.io/restartedAt".into(),
                super::dice::ts(self.d.range(3600, ago.max(3601))).into(),
            );
        }
        let t = self.template(pod_labels, annotations, p);
        let ns_name = ns.name.clone();
        let w = Wl {
            ns: &ns_name,
            name: &name,
            ago,
            labels,
            selector: selector.clone(),
        };
        match arch {
            Arch::Web | Arch::Api | Arch::Worker => {
                let pods = self.deployment(&w, &t, n, Life::Service);
                let live = pods.iter().filter(|r| !r.terminal).count();
                if arch != Arch::Worker {
                    let ty = if arch == Arch::Web {
                        self.next_service_type()
                    } else if self.d.chance(0.1) {
                        SvcType::NodePort
                    } else {
                        SvcType::ClusterIp
                    };
                    let mut ports = vec![svc_port("http", 80, container_port, true)];
                    if arch == Arch::Api {
                        ports.push(svc_port("metrics", 9090, 9090, true));
                    }
                    self.service(
                        SvcSpec {
                            ns: &ns_name,
                            name: &name,
                            ago,
                            labels: selector.clone(),
                            selector: selector.clone(),
                            ty,
                            ports,
                            cluster_ip: None,
                        },
                        &pods,
                    );
                    let want_ingress = match arch {
                        Arch::Web => self.seq.ingress < 4 || self.d.chance(0.6),
                        _ => self.d.chance(0.2),
                    };
                    if want_ingress {
                        self.ingress(ns, &name, 80, ago);
                    }
                    if exposed.is_none() {
                        *exposed = Some((name.clone(), container_port));
                    }
                }
                if live >= 2 && self.d.chance(0.35) {
                    self.hpa(&ns_name, &name, live, ago);
                }
                if live >= 2 && self.d.chance(0.3) {
                    self.pdb(&ns_name, &name, &selector, &pods, ago);
                }
                pods
            }
            Arch::Db(_) => {
                let headless = format!("{name}-headless");
                let class = if self.d.chance(0.2) { "gp2" } else { "gp3" };
                let size = *self.d.pick(&["10Gi", "20Gi", "50Gi", "100Gi"]);
                let pods = self.statefulset(&w, &t, n, &headless, Some((size, class)));
                let p = svc_port(ctr_name, container_port, container_port, true);
                self.service(
                    SvcSpec {
                        ns: &ns_name,
                        name: &headless,
                        ago,
                        labels: selector.clone(),
                        selector: selector.clone(),
                        ty: SvcType::Headless,
                        ports: vec![p],
                        cluster_ip: None,
                    },
                    &pods,
                );
                self.service(
                    SvcSpec {
                        ns: &ns_name,
                        name: &name,
                        ago,
                        labels: selector.clone(),
                        selector: selector.clone(),
                        ty: SvcType::ClusterIp,
                        ports: vec![p],
                        cluster_ip: None,
                    },
                    &pods,
                );
                if self.d.chance(0.5) {
                    self.pdb(&ns_name, &name, &selector, &pods, ago);
                }
                pods
            }
            Arch::Cron => {
                let schedule = *self.d.pick(&[
                    ("*/30 * * * *", 1800),
                    ("0 * * * *", 3600),
                    ("0 3 * * *", 86_400),
                    ("15 */6 * * *", 21_600),
                ]);
                let mut outcomes: Vec<bool> = (0..n).map(|_| !self.d.chance(0.15)).collect();
                if self.seq.cronjobs == 0 && n >= 2 {
                    outcomes[0] = false;
                }
                self.seq.cronjobs += 1;
                self.cronjob(&w, &t, &outcomes, schedule)
            }
            Arch::Job => {
                let ok = !self.d.chance(0.1);
                vec![self.standalone_job(&w, &t, ok)]
            }
            Arch::Bare => vec![self.bare_pod(&ns_name, &name, &t, ago)],
        }
    }

    /// The first debug pod is always privileged, later ones sometimes.
    fn debug_is_privileged(&mut self) -> bool {
        let first = self.seq.debug_pods == 0;
        self.seq.debug_pods += 1;
        first || self.d.chance(0.3)
    }
}

/// The pod-level hardening that matches the main container's.
fn containers_hardening(p: &PodIn) -> Hardening {
    p.containers
        .first()
        .map_or(Hardening::Unset, |c| c.hardening)
}
