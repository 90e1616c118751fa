-- id: baseline.privilege_escalation
-- title: Containers forbid privilege escalation
-- severity: medium
-- frameworks: PSS restricted (Privilege Escalation), CIS Kubernetes Benchmark 5.2
--   (allowPrivilegeEscalation), NSA/CISA Kubernetes Hardening Guide (pod
--   security)
-- rationale: Unless allowPrivilegeEscalation is false, a process can gain more
--   privileges than its parent through setuid binaries or file capabilities
--   (no_new_privs is not set).
-- remediation: Set securityContext.allowPrivilegeEscalation: false on every container.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Alarm when at least one container has
--   allow_privilege_escalation not equal to false (true, or null because unset,
--   which allows escalation). Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         coalesce(allow_privilege_escalation, true) AS bad,
         CASE
           WHEN allow_privilege_escalation IS TRUE THEN 'sets allowPrivilegeEscalation: true'
           ELSE 'does not set allowPrivilegeEscalation: false'
         END AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'every container sets allowPrivilegeEscalation: false'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
