-- id: nsa.read_only_root_filesystem
-- title: Containers use a read-only root filesystem
-- severity: medium
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Pod security: immutable
--   container file systems), kubescape C-0017
-- rationale: A writable root filesystem lets an attacker drop tools and modify binaries
--   or configuration inside the running container; an immutable one forces
--   writes into explicit, reviewable volumes.
-- remediation: Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir
--   for the paths the process must write (e.g. /tmp).
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Alarm when at least one container has
--   read_only_root_filesystem not equal to true (false, or null because unset).
--   Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         NOT coalesce(read_only_root_filesystem, false) AS bad,
         CASE
           WHEN read_only_root_filesystem IS FALSE THEN 'sets readOnlyRootFilesystem: false'
           ELSE 'does not set readOnlyRootFilesystem: true'
         END AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'every container has a read-only root filesystem'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
