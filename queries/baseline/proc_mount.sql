-- id: baseline.proc_mount
-- title: Containers use the default /proc mask
-- severity: medium
-- frameworks: PSS baseline (/proc Mount Type)
-- rationale: procMount: Unmasked exposes kernel interfaces under /proc that the runtime
--   normally masks, such as /proc/sys and /proc/kcore.
-- remediation: Remove securityContext.procMount or set it to Default.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Alarm when at least one container has
--   proc_mount set (not null) to a value other than 'Default'. Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         proc_mount IS NOT NULL AND proc_mount <> 'Default' AS bad,
         'sets procMount ' || proc_mount AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'no container changes the /proc mount type'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
