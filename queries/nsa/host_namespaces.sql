-- id: nsa.host_namespaces
-- title: Pods do not share the node's network, PID or IPC namespace
-- severity: high
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Pod security: host namespaces),
--   PSS baseline, kubescape C-0038, kubescape C-0041
-- rationale: hostNetwork lets a pod sniff and bind the node's interfaces and reach
--   services bound to localhost; hostPID lets it see and signal every process
--   on the node; hostIPC lets it read other processes' shared memory.
-- remediation: Remove hostNetwork, hostPID and hostIPC from the pod spec (or set them to
--   false).
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name; the fields are
--   pod-level and repeated on every container row. Alarm when host_network,
--   host_pid or host_ipc is true on any row of the workload; null counts as false.
--   The reason lists the ones set. Otherwise ok. Same rule as
--   baseline.host_namespaces.
WITH c AS (
  SELECT cluster, namespace, kind, name,
         coalesce(host_network, false) AS net,
         coalesce(host_pid, false) AS pid,
         coalesce(host_ipc, false) AS ipc
  FROM template_containers
), p AS (
  SELECT cluster, namespace, kind, name,
         bool_or(net) AS net, bool_or(pid) AS pid, bool_or(ipc) AS ipc
  FROM c
  GROUP BY cluster, namespace, kind, name
)
SELECT cluster, namespace, kind, name,
       CASE WHEN net OR pid OR ipc THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN net OR pid OR ipc
            THEN 'pod sets ' || concat_ws(', ',
                   CASE WHEN net THEN 'hostNetwork: true' END,
                   CASE WHEN pid THEN 'hostPID: true' END,
                   CASE WHEN ipc THEN 'hostIPC: true' END)
            ELSE 'pod uses its own network, PID and IPC namespaces'
       END AS reason
FROM p
ORDER BY cluster, namespace, kind, name;
