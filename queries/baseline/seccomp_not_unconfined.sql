-- id: baseline.seccomp_not_unconfined
-- title: Containers do not disable seccomp
-- severity: medium
-- frameworks: PSS baseline (Seccomp), NSA/CISA Kubernetes Hardening Guide (pod security)
-- rationale: An Unconfined seccomp profile lets the container call every system call,
--   including the rarely needed ones most kernel exploits go through.
-- remediation: Remove seccompProfile.type: Unconfined; use RuntimeDefault or a Localhost
--   profile.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). seccomp_profile is the container's
--   seccompProfile.type, else the pod's. Alarm when at least one container has
--   seccomp_profile = 'Unconfined'; null (unset) and any other value are allowed.
--   Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         coalesce(seccomp_profile = 'Unconfined', false) AS bad,
         'runs with seccomp profile Unconfined' AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'no container runs with seccomp Unconfined'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
