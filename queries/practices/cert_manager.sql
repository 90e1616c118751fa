-- id: practices.cert_manager
-- title: Every cluster runs a certificate manager
-- severity: medium
-- frameworks: Kubernetes Best Practices ch. 12, Pulumi Crosswalk app services
-- rationale: Without an in-cluster certificate manager TLS certificates are
--   created and renewed by hand, and a forgotten renewal is an outage.
--   cert-manager issues and rotates them from Certificate and Ingress
--   objects, the same way on every cluster.
-- remediation: Install cert-manager (or the fleet's equivalent) with the same
--   ClusterIssuers as the other clusters.
-- live: asks what a cluster has installed
-- param: cert_managers[] = cert-manager
-- alarms: Evaluates every cluster of the run (the distinct clusters of
--   namespaces), one row each with namespace NULL, kind Cluster and the
--   cluster's name as name. A certificate manager is a Deployment (deployments)
--   in any namespace whose name, or whose label app.kubernetes.io/name, app
--   or k8s-app, equals one of cert_managers. Status alarm when the cluster
--   has none; ok when it has at least one, the reason listing them as
--   Kind namespace/name, sorted.
WITH clusters AS (
  SELECT DISTINCT cluster FROM namespaces
),
candidates AS (
  SELECT cluster, namespace, 'Deployment' AS kind, name, labels FROM deployments
),
found AS (
  SELECT cluster, string_agg(kind || ' ' || namespace || '/' || name, ', ' ORDER BY kind, namespace, name) AS objects
  FROM candidates
  WHERE coalesce(array_has({{cert_managers}}, name), false)
     OR coalesce(array_has({{cert_managers}}, labels['app.kubernetes.io/name']), false)
     OR coalesce(array_has({{cert_managers}}, labels['app']), false)
     OR coalesce(array_has({{cert_managers}}, labels['k8s-app']), false)
  GROUP BY cluster
)
SELECT c.cluster, CAST(NULL AS VARCHAR) AS namespace, 'Cluster' AS kind, c.cluster AS name,
       CASE WHEN f.objects IS NULL THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN f.objects IS NULL
            THEN 'cluster ' || c.cluster || ' runs no certificate manager (looked for '
                 || array_to_string({{cert_managers}}, ', ') || ')'
            ELSE 'cluster ' || c.cluster || ' runs certificate manager ' || f.objects END AS reason
FROM clusters c
LEFT JOIN found f ON f.cluster = c.cluster
ORDER BY c.cluster, namespace, kind, name;
