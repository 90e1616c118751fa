-- id: baseline.privileged
-- title: Containers do not run privileged
-- severity: critical
-- frameworks: PSS baseline (Privileged Containers), CIS Kubernetes Benchmark 5.2
--   (privileged containers), NSA/CISA Kubernetes Hardening Guide (pod
--   security)
-- rationale: A privileged container has every capability and every host device; escaping
--   it to the node is trivial.
-- remediation: Remove securityContext.privileged or set it to false; grant only the
--   specific capabilities the process needs.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Alarm when at least one container has
--   privileged = true; a null (unset) privileged counts as false. Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         coalesce(privileged, false) AS bad,
         'runs privileged' AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'no container runs privileged'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
