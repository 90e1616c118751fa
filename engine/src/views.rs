//! Views kq defines on top of the provider tables.
//!
//! `template_containers` is the pod-template view compliance controls use:
//! every container as a person authored it, once. That is the pod template
//! of each workload no other workload owns (a Job a CronJob created is
//! covered by the CronJob; a StatefulSet or Deployment an operator's custom
//! resource owns, or one in a file with ownerReferences, is its own), plus the containers of every pod whose workload is not among
//! them: bare pods, static pods, pods of operators, and pods whose
//! ReplicaSet or Job outlived (or never had) the workload it names. A
//! control over this view covers every workload kind with one query, and
//! reports the workload, not each of its replicas.

/// The columns both halves of `template_containers` share, in order.
const TEMPLATE_COLUMNS: &str = "container_type, name AS container, image, image_ref, registry, \
    repository, tag, digest, image_pull_policy, cpu_request, cpu_limit, memory_request, memory_limit, \
    ephemeral_storage_request, ephemeral_storage_limit, privileged, allow_privilege_escalation, \
    run_as_non_root, run_as_user, run_as_group, read_only_root_filesystem, capabilities_add, \
    capabilities_drop, seccomp_profile, apparmor_profile, proc_mount, readiness_probe, liveness_probe, \
    startup_probe, command, args, env, env_from, volume_mounts, host_network, host_pid, host_ipc, \
    host_path_volumes, host_ports, service_account, automount_service_account_token";

const TEMPLATE_CONTAINERS_DESCRIPTION: &str = "Every container as authored, once: the pod template of each \
    workload (Deployment, StatefulSet, DaemonSet, Job, CronJob) no other such workload owns, and the containers of \
    pods no such workload owns or whose workload does not exist; `kind` and `name` name the workload or pod";

/// A built-in view: its name, the description `kq tables` shows, and the
/// SELECT defining it.
pub struct View {
    pub name: &'static str,
    pub description: &'static str,
    pub sql: String,
}

/// The description of the built-in view `name`, if it is one.
pub fn description(name: &str) -> Option<&'static str> {
    builtin_views()
        .into_iter()
        .find(|v| v.name == name)
        .map(|v| v.description)
}

/// Every built-in view.
///
/// The `|| ''` and the rebuilt label maps are not decoration: the two halves'
/// `kind`, `name` and `labels` carry different column descriptions (Arrow
/// field metadata), and DataFusion 55 then plans a UNION whose physical
/// schema disagrees with its logical one ("Physical input schema should be
/// the same") as soon as a query groups by them. A computed column has no
/// metadata, so both halves agree.
pub fn builtin_views() -> Vec<View> {
    let pod_columns = TEMPLATE_COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    vec![View {
        name: "template_containers",
        description: TEMPLATE_CONTAINERS_DESCRIPTION,
        sql: format!(
            "SELECT cluster, namespace, workload_kind || '' AS kind, \
                    workload_name || '' AS name, \
                    map(map_keys(workload_labels), map_values(workload_labels)) AS labels, \
                    {TEMPLATE_COLUMNS} \
             FROM workload_containers t \
             LEFT JOIN (SELECT DISTINCT cluster AS o_cluster, namespace AS o_namespace, \
                               workload_kind AS o_kind, workload_name AS o_name \
                        FROM workload_containers) o \
               ON o.o_cluster = t.cluster AND o.o_namespace = t.namespace \
              AND o.o_kind = t.owner_kind AND o.o_name = t.owner_name \
             WHERE o.o_name IS NULL \
             UNION ALL \
             SELECT c.cluster, c.namespace, 'Pod' || '' AS kind, c.pod_name || '' AS name, \
                    map(map_keys(c.pod_labels), map_values(c.pod_labels)) AS labels, \
                    {pod_columns} \
             FROM containers c \
             LEFT JOIN (SELECT DISTINCT cluster AS w_cluster, namespace AS w_namespace, \
                               workload_kind AS w_kind, workload_name AS w_name \
                        FROM workload_containers) w \
               ON w.w_cluster = c.cluster AND w.w_namespace = c.namespace \
              AND w.w_kind = c.workload_kind AND w.w_name = c.workload_name \
             WHERE w.w_name IS NULL"
        ),
    }]
}
