-- id: practices.app_readiness_probes
-- title: Application containers have readiness probes
-- severity: medium
-- frameworks: Kubernetes Best Practices, Pulumi Crosswalk apps
-- rationale: Without a readiness probe a pod receives traffic as soon as its
--   process starts - before caches are warm or dependencies reachable - and
--   keeps receiving it while it is wedged. Rolling updates also proceed on
--   the assumption that a started pod is a working one.
-- remediation: Add a readinessProbe (httpGet on a health endpoint, or
--   tcpSocket/exec) to every regular container of the pod template.
-- param: practices_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every Deployment and StatefulSet (deployments,
--   stateful_sets), one row each. Status skip when its namespace is in
--   practices_exempt_namespaces. Otherwise alarm when at least one of its
--   regular containers (workload_containers rows of that workload with
--   container_type regular; init and ephemeral containers are not checked)
--   has readiness_probe false or NULL; the reason lists those containers,
--   sorted. Else ok (a workload with no container rows is ok).
WITH apps AS (
  SELECT cluster, namespace, 'Deployment' AS kind, name FROM deployments
  UNION ALL
  SELECT cluster, namespace, 'StatefulSet' AS kind, name FROM stateful_sets
),
missing AS (
  SELECT cluster, namespace, workload_kind, workload_name,
         string_agg(name, ', ' ORDER BY name) AS containers
  FROM workload_containers
  WHERE workload_kind IN ('Deployment', 'StatefulSet')
    AND container_type = 'regular'
    AND readiness_probe IS NOT TRUE
  GROUP BY cluster, namespace, workload_kind, workload_name
)
SELECT a.cluster, a.namespace, a.kind, a.name,
       CASE WHEN array_has({{practices_exempt_namespaces}}, a.namespace) THEN 'skip'
            WHEN m.containers IS NOT NULL THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN array_has({{practices_exempt_namespaces}}, a.namespace) THEN 'namespace ' || a.namespace || ' is exempt'
            WHEN m.containers IS NOT NULL THEN 'containers without a readiness probe: ' || m.containers
            ELSE 'every container has a readiness probe' END AS reason
FROM apps a
LEFT JOIN missing m
  ON m.cluster = a.cluster AND m.namespace = a.namespace
 AND m.workload_kind = a.kind AND m.workload_name = a.name
ORDER BY a.cluster, a.namespace, a.kind, a.name;
