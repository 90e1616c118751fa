-- id: practices.log_shipping
-- title: Every cluster ships logs from every node
-- severity: medium
-- frameworks: Kubernetes Best Practices ch. 12, Pulumi Crosswalk cluster services
-- rationale: Container logs live on the node and disappear with the pod or
--   the node. A log-shipping DaemonSet (Fluent Bit, Vector...) must run on
--   every node, or the logs of whatever lands on the uncovered nodes are lost
--   exactly when an incident needs them.
-- remediation: Install the fleet's log shipper as a DaemonSet that
--   tolerates every taint and has no nodeSelector/affinity excluding nodes;
--   compare kubectl get ds -A with kubectl get nodes.
-- live: reads the nodes and DaemonSets a cluster runs
-- param: log_shippers[] = fluent-bit, aws-for-fluent-bit, fluentd, vector, promtail, filebeat, datadog-agent, grafana-agent, alloy, otel-collector
-- alarms: Evaluates every cluster of the run (the distinct clusters of
--   namespaces), one row each with namespace NULL, kind Cluster and the
--   cluster's name as name. A log shipper is a DaemonSet (daemon_sets) in any
--   namespace whose name, or whose label app.kubernetes.io/name, app or
--   k8s-app, equals one of log_shippers. Status alarm when the cluster has
--   no log shipper, or when the largest desired pod count (replicas, the
--   DaemonSet's desiredNumberScheduled; NULL counts as 0) among its log
--   shippers is below the cluster's node count (every row of nodes,
--   cordoned or not). When a log shipper exists but nodes has no row for the
--   cluster, status error (the nodes could not be read). ok otherwise. The
--   reason names the DaemonSet(s) with their desired counts and the node
--   count.
WITH clusters AS (
  SELECT DISTINCT cluster FROM namespaces
),
node_counts AS (
  SELECT cluster, count(*) AS nodes FROM nodes GROUP BY cluster
),
shippers AS (
  SELECT cluster,
         max(coalesce(replicas, 0)) AS desired,
         string_agg(namespace || '/' || name || ' (' || coalesce(replicas, 0) || ' desired)', ', '
                    ORDER BY namespace, name) AS daemonsets
  FROM daemon_sets
  WHERE coalesce(array_has({{log_shippers}}, name), false)
     OR coalesce(array_has({{log_shippers}}, labels['app.kubernetes.io/name']), false)
     OR coalesce(array_has({{log_shippers}}, labels['app']), false)
     OR coalesce(array_has({{log_shippers}}, labels['k8s-app']), false)
  GROUP BY cluster
)
SELECT c.cluster, CAST(NULL AS VARCHAR) AS namespace, 'Cluster' AS kind, c.cluster AS name,
       CASE WHEN s.daemonsets IS NULL THEN 'alarm'
            WHEN c.nodes IS NULL THEN 'error'
            WHEN s.desired < c.nodes THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN s.daemonsets IS NULL
              THEN 'cluster ' || c.cluster || ' runs no log-shipping DaemonSet (looked for '
                   || array_to_string({{log_shippers}}, ', ') || ')'
            WHEN c.nodes IS NULL
              THEN 'log shipper ' || s.daemonsets || ' found but no node of cluster ' || c.cluster
                   || ' could be read to compare'
            WHEN s.desired < c.nodes
              THEN 'log shipper ' || s.daemonsets || ' covers ' || s.desired || ' of ' || c.nodes
                   || ' nodes; logs of the other ' || (c.nodes - s.desired) || ' are not shipped'
            ELSE 'log shipper ' || s.daemonsets || ' covers all ' || c.nodes || ' nodes' END AS reason
FROM (SELECT cl.cluster, nc.nodes FROM clusters cl LEFT JOIN node_counts nc ON nc.cluster = cl.cluster) c
LEFT JOIN shippers s ON s.cluster = c.cluster
ORDER BY c.cluster, namespace, kind, name;
