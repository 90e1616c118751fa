-- id: baseline.capabilities_baseline
-- title: Containers add no capabilities beyond the baseline set
-- severity: high
-- frameworks: PSS baseline (Capabilities), CIS Kubernetes Benchmark 5.2 (added
--   capabilities, NET_RAW), NSA/CISA Kubernetes Hardening Guide (pod security)
-- rationale: Capabilities such as SYS_ADMIN, NET_ADMIN or NET_RAW give a container most
--   of root's power over the node's kernel and network.
-- remediation: Remove the capability from securityContext.capabilities.add; only
--   AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD,
--   NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT may be
--   added.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Alarm when at least one container lists
--   in capabilities_add a value outside the PSS baseline set AUDIT_WRITE, CHOWN,
--   DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID,
--   SETPCAP, SETUID, SYS_CHROOT (exact, case-sensitive comparison). Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         coalesce(cardinality(array_except(capabilities_add, make_array('AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'))), 0) > 0 AS bad,
         'adds capabilities ' || array_to_string(array_except(capabilities_add, make_array('AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT')), ', ') AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'no container adds a capability outside the baseline set'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
