-- id: nsa.linux_hardening
-- title: Containers use a Linux security module or drop capabilities
-- severity: medium
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Pod security: seccomp, AppArmor
--   and SELinux), kubescape C-0055
-- rationale: seccomp, AppArmor and dropped capabilities each cut the kernel attack
--   surface a compromised process can reach; a container with none of them
--   relies on the runtime defaults alone.
-- remediation: Set seccompProfile.type: RuntimeDefault (pod or container), an AppArmor
--   profile, or capabilities.drop: ["ALL"].
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). A container is hardened when
--   seccomp_profile is 'RuntimeDefault' or 'Localhost', or apparmor_profile is
--   'RuntimeDefault' or 'Localhost' (both: the container value, else the pod
--   value), or capabilities_drop is non-empty. Alarm when at least one container
--   is not hardened. Otherwise ok. SELinux options are not read.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         NOT (coalesce(seccomp_profile IN ('RuntimeDefault', 'Localhost'), false)
         OR coalesce(apparmor_profile IN ('RuntimeDefault', 'Localhost'), false)
         OR coalesce(cardinality(capabilities_drop), 0) > 0) AS bad,
         'has no seccomp or AppArmor profile and drops no capabilities' AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'every container has a seccomp or AppArmor profile or drops capabilities'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
