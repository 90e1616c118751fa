-- id: baseline.host_path_volumes
-- title: Pods do not mount hostPath volumes
-- severity: high
-- frameworks: PSS baseline (HostPath Volumes), CIS Kubernetes Benchmark 5.2 (hostPath
--   volumes), NSA/CISA Kubernetes Hardening Guide (pod security)
-- rationale: A hostPath volume gives the pod the node's files: the container runtime
--   socket, kubelet credentials, other pods' data; a writable one is a direct
--   path to root on the node.
-- remediation: Replace hostPath volumes with emptyDir, configMap, secret, projected or
--   persistent volumes; node agents that truly need host files belong in a
--   dedicated, exempted namespace.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name; the fields are
--   pod-level and repeated on every container row. Alarm when host_path_volumes
--   (the hostPath paths of the pod's volumes, whether or not a container mounts
--   them) is non-empty on any row of the workload. Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name,
         coalesce(array_to_string(host_path_volumes, ', '), '') AS paths
  FROM template_containers
), p AS (
  SELECT cluster, namespace, kind, name, max(paths) AS paths
  FROM c
  GROUP BY cluster, namespace, kind, name
)
SELECT cluster, namespace, kind, name,
       CASE WHEN coalesce(paths, '') <> '' THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN coalesce(paths, '') <> ''
            THEN 'pod has hostPath volumes ' || paths
            ELSE 'pod has no hostPath volume'
       END AS reason
FROM p
ORDER BY cluster, namespace, kind, name;
