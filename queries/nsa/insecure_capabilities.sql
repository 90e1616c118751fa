-- id: nsa.insecure_capabilities
-- title: Containers do not add dangerous capabilities
-- severity: high
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Pod security: Linux
--   capabilities), kubescape C-0046
-- rationale: Capabilities such as SYS_ADMIN, NET_ADMIN, SYS_PTRACE or SYS_MODULE let a
--   container reconfigure the node's network, inspect other processes or load
--   kernel modules: most container escapes start there.
-- remediation: Remove the capability from securityContext.capabilities.add, or narrow
--   insecure_capabilities if a listed one is acceptable in your fleet.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Each capabilities_add value is
--   upper-cased and a leading CAP_ is removed. Alarm when at least one container
--   adds a value that is in the insecure_capabilities list. Otherwise ok.
-- param: insecure_capabilities[] = ALL, BPF, MAC_ADMIN, MAC_OVERRIDE, NET_ADMIN, NET_RAW, PERFMON, SETPCAP, SYS_ADMIN, SYS_BOOT, SYS_MODULE, SYS_PTRACE, SYS_RAWIO
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         coalesce(cardinality(array_sort(array_intersect(string_to_array(regexp_replace(upper(array_to_string(capabilities_add, ',')), '(^|,)CAP_', '${1}', 'g'), ','), {{insecure_capabilities}}))), 0) > 0 AS bad,
         'adds capabilities ' || array_to_string(array_sort(array_intersect(string_to_array(regexp_replace(upper(array_to_string(capabilities_add, ',')), '(^|,)CAP_', '${1}', 'g'), ','), {{insecure_capabilities}})), ', ') AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'no container adds a dangerous capability'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
