-- id: baseline.run_as_non_root
-- title: Containers run as non-root (runAsNonRoot)
-- severity: medium
-- frameworks: PSS restricted (Running as Non-root, Running as Non-root user), CIS
--   Kubernetes Benchmark 5.2 (root containers), NSA/CISA Kubernetes Hardening
--   Guide (non-root containers)
-- rationale: A process running as UID 0 is root on the node too once it escapes the
--   container; runAsNonRoot makes the kubelet refuse to start an image that
--   would run as root.
-- remediation: Set securityContext.runAsNonRoot: true (pod or container) and a non-zero
--   runAsUser, and build images with a non-root USER.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). run_as_non_root and run_as_user are the
--   container values, else the pod values. Alarm when at least one container has
--   run_as_user = 0, or run_as_non_root not equal to true (false or null).
--   Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         coalesce(run_as_user = 0, false) OR NOT coalesce(run_as_non_root, false) AS bad,
         CASE
           WHEN run_as_user = 0 THEN 'runs as UID 0'
           WHEN run_as_non_root IS FALSE THEN 'sets runAsNonRoot: false'
           ELSE 'does not set runAsNonRoot: true'
         END AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'every container sets runAsNonRoot: true and no container runs as UID 0'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
