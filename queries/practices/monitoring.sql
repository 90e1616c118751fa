-- id: practices.monitoring
-- title: Every cluster runs Prometheus and node-exporter
-- severity: medium
-- frameworks: Kubernetes Best Practices ch. 12, Pulumi Crosswalk cluster services
-- rationale: Without metrics there is no alerting, no capacity planning and
--   no evidence after an incident. A fleet needs the same monitoring stack on
--   every cluster: a Prometheus (or compatible) server to scrape and alert,
--   and node-exporter for node-level CPU, memory, disk and network metrics.
-- remediation: Install the fleet's monitoring stack (for example
--   kube-prometheus-stack) on the cluster, through the same pipeline as on
--   the others.
-- live: asks what a cluster has installed
-- param: prometheus_workloads[] = prometheus, prometheus-server, prometheus-k8s
-- param: node_exporters[] = node-exporter, prometheus-node-exporter
-- alarms: Evaluates every cluster of the run (the distinct clusters of
--   namespaces), one row each with namespace NULL, kind Cluster and the
--   cluster's name as name. A Prometheus is a Deployment or StatefulSet
--   (deployments, stateful_sets), a node-exporter a DaemonSet (daemon_sets),
--   in any namespace, whose name, or whose label app.kubernetes.io/name, app
--   or k8s-app, equals one of prometheus_workloads, respectively
--   node_exporters. Status alarm when the cluster lacks either (the reason
--   says which); ok when it has both, the reason naming them as Kind
--   namespace/name, sorted.
WITH clusters AS (
  SELECT DISTINCT cluster FROM namespaces
),
servers AS (
  SELECT cluster, string_agg(kind || ' ' || namespace || '/' || name, ', ' ORDER BY kind, namespace, name) AS objects
  FROM (SELECT cluster, namespace, 'Deployment' AS kind, name, labels FROM deployments
        UNION ALL
        SELECT cluster, namespace, 'StatefulSet' AS kind, name, labels FROM stateful_sets) w
  WHERE coalesce(array_has({{prometheus_workloads}}, name), false)
     OR coalesce(array_has({{prometheus_workloads}}, labels['app.kubernetes.io/name']), false)
     OR coalesce(array_has({{prometheus_workloads}}, labels['app']), false)
     OR coalesce(array_has({{prometheus_workloads}}, labels['k8s-app']), false)
  GROUP BY cluster
),
exporters AS (
  SELECT cluster, string_agg('DaemonSet ' || namespace || '/' || name, ', ' ORDER BY namespace, name) AS objects
  FROM daemon_sets
  WHERE coalesce(array_has({{node_exporters}}, name), false)
     OR coalesce(array_has({{node_exporters}}, labels['app.kubernetes.io/name']), false)
     OR coalesce(array_has({{node_exporters}}, labels['app']), false)
     OR coalesce(array_has({{node_exporters}}, labels['k8s-app']), false)
  GROUP BY cluster
)
SELECT c.cluster, CAST(NULL AS VARCHAR) AS namespace, 'Cluster' AS kind, c.cluster AS name,
       CASE WHEN s.objects IS NULL OR e.objects IS NULL THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN s.objects IS NULL AND e.objects IS NULL
              THEN 'cluster ' || c.cluster || ' runs neither Prometheus nor node-exporter'
            WHEN s.objects IS NULL
              THEN 'cluster ' || c.cluster || ' runs no Prometheus (node-exporter: ' || e.objects || ')'
            WHEN e.objects IS NULL
              THEN 'cluster ' || c.cluster || ' runs no node-exporter DaemonSet (Prometheus: ' || s.objects || ')'
            ELSE 'cluster ' || c.cluster || ' runs Prometheus ' || s.objects || ' and node-exporter ' || e.objects
       END AS reason
FROM clusters c
LEFT JOIN servers s ON s.cluster = c.cluster
LEFT JOIN exporters e ON e.cluster = c.cluster
ORDER BY c.cluster, namespace, kind, name;
