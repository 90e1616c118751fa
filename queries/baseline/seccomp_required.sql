-- id: baseline.seccomp_required
-- title: Containers run with a seccomp profile
-- severity: low
-- frameworks: PSS restricted (Seccomp), CIS Kubernetes Benchmark 5.7 (seccomp profile),
--   NSA/CISA Kubernetes Hardening Guide (pod security)
-- rationale: Without an explicit profile many runtimes run containers unconfined;
--   RuntimeDefault blocks the system calls most kernel exploits need at
--   negligible cost.
-- remediation: Set securityContext.seccompProfile.type: RuntimeDefault (or Localhost) on
--   the pod or on every container.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). seccomp_profile is the container's
--   seccompProfile.type, else the pod's. Alarm when at least one container has a
--   seccomp_profile other than 'RuntimeDefault' or 'Localhost', null (unset)
--   included. Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         seccomp_profile IS NULL OR seccomp_profile NOT IN ('RuntimeDefault', 'Localhost') AS bad,
         CASE
           WHEN seccomp_profile IS NULL THEN 'sets no seccomp profile'
           ELSE 'uses seccomp profile ' || seccomp_profile
         END AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'every container runs with the RuntimeDefault or a Localhost seccomp profile'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
