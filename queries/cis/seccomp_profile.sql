-- id: cis.seccomp_profile
-- title: Containers run with a seccomp profile
-- severity: medium
-- frameworks: CIS 5.7.2
-- rationale: Without seccomp a container may call every system call of the
--   host kernel, including the rarely needed ones most kernel exploits go
--   through. RuntimeDefault blocks those at no cost for almost every
--   application.
-- remediation: Set securityContext.seccompProfile.type RuntimeDefault (or
--   Localhost with a reviewed profile) in the pod spec, or on each container.
-- param: cis_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every workload of template_containers (top-level
--   Deployments, StatefulSets, DaemonSets, Jobs, CronJobs and pods no such
--   controller owns), one row per (cluster, namespace, kind, name). Status
--   skip when the namespace is in cis_exempt_namespaces. Otherwise alarm when
--   any of its containers (init, regular or ephemeral) has an effective
--   seccomp_profile (the container's, else the pod's) that is NULL (unset)
--   or Unconfined; RuntimeDefault and Localhost are fine. The reason lists
--   the offending containers with their value, sorted. Else ok.
WITH per_workload AS (
  SELECT cluster, namespace, kind, name,
         string_agg(CASE WHEN seccomp_profile IS NULL OR seccomp_profile = 'Unconfined'
                         THEN container || ' (' || coalesce(seccomp_profile, 'unset') || ')' END,
                    ', ' ORDER BY container) AS offenders
  FROM template_containers
  GROUP BY cluster, namespace, kind, name
)
SELECT cluster, namespace, kind, name,
       CASE WHEN array_has({{cis_exempt_namespaces}}, namespace) THEN 'skip'
            WHEN offenders IS NOT NULL THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN array_has({{cis_exempt_namespaces}}, namespace) THEN 'namespace ' || namespace || ' is exempt'
            WHEN offenders IS NOT NULL THEN 'containers without a seccomp profile: ' || offenders
            ELSE 'every container runs with seccomp RuntimeDefault or Localhost' END AS reason
FROM per_workload
ORDER BY cluster, namespace, kind, name;
