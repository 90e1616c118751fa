-- id: baseline.capabilities_restricted
-- title: Containers drop ALL capabilities and add back only NET_BIND_SERVICE
-- severity: medium
-- frameworks: PSS restricted (Capabilities), CIS Kubernetes Benchmark 5.2 (capabilities
--   assigned), NSA/CISA Kubernetes Hardening Guide (pod security)
-- rationale: The runtime's default capability set still includes powerful ones (CHOWN,
--   DAC_OVERRIDE, SETUID, NET_RAW with some runtimes); dropping ALL leaves a
--   process only what it was explicitly granted.
-- remediation: Set securityContext.capabilities.drop: ["ALL"] and add back at most
--   NET_BIND_SERVICE.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Alarm when at least one container does
--   not list 'ALL' in capabilities_drop (null counts as not listed; exact,
--   case-sensitive), or lists in capabilities_add any value other than
--   'NET_BIND_SERVICE'. Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         NOT coalesce(array_has(capabilities_drop, 'ALL'), false)
         OR coalesce(cardinality(array_except(capabilities_add, make_array('NET_BIND_SERVICE'))), 0) > 0 AS bad,
         concat_ws(' and ',
           CASE WHEN NOT coalesce(array_has(capabilities_drop, 'ALL'), false) THEN 'does not drop ALL capabilities' END,
           CASE WHEN coalesce(cardinality(array_except(capabilities_add, make_array('NET_BIND_SERVICE'))), 0) > 0 THEN 'adds ' || array_to_string(array_except(capabilities_add, make_array('NET_BIND_SERVICE')), ', ') END) AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'every container drops ALL capabilities and adds back at most NET_BIND_SERVICE'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
