-- id: nsa.host_ports
-- title: Containers do not bind host ports
-- severity: medium
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Pod security: host ports), PSS
--   baseline, kubescape C-0044
-- rationale: A hostPort exposes the container on the node's own address, bypassing
--   Services and NetworkPolicies, and pins the pod to nodes where the port is
--   free.
-- remediation: Remove ports[].hostPort and expose the container through a Service.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Alarm when at least one container has a
--   host_ports value other than '0' (an unset or 0 hostPort is allowed). Otherwise
--   ok. Same rule as baseline.host_ports.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         coalesce(cardinality(array_remove(host_ports, '0')), 0) > 0 AS bad,
         'binds host ports ' || array_to_string(array_remove(host_ports, '0'), ', ') AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'no container binds a host port'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
