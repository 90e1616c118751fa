-- id: practices.ingress_controller
-- title: Every cluster runs an ingress controller
-- severity: medium
-- frameworks: Kubernetes Best Practices ch. 12, Pulumi Crosswalk app services
-- rationale: Ingress objects do nothing without a controller to serve them;
--   apps then fall back to one LoadBalancer Service each - more cost, more
--   public endpoints, no shared TLS and routing policy. Teams moving an app
--   between clusters also expect the same entry point everywhere.
-- remediation: Install the fleet's standard ingress controller (for example
--   ingress-nginx) with its IngressClass, as on the other clusters.
-- live: asks what a cluster has installed
-- param: ingress_controllers[] = ingress-nginx-controller, ingress-nginx, nginx-ingress-controller, nginx-ingress, traefik, haproxy-ingress, kong, contour, istio-ingressgateway, emissary-ingress
-- alarms: Evaluates every cluster of the run (the distinct clusters of
--   namespaces), one row each with namespace NULL, kind Cluster and the
--   cluster's name as name. An ingress controller is a DaemonSet or Deployment (daemon_sets, deployments)
--   in any namespace whose name, or whose label app.kubernetes.io/name, app
--   or k8s-app, equals one of ingress_controllers. Status alarm when the cluster
--   has none; ok when it has at least one, the reason listing them as
--   Kind namespace/name, sorted.
WITH clusters AS (
  SELECT DISTINCT cluster FROM namespaces
),
candidates AS (
  SELECT cluster, namespace, 'DaemonSet' AS kind, name, labels FROM daemon_sets
  UNION ALL
  SELECT cluster, namespace, 'Deployment' AS kind, name, labels FROM deployments
),
found AS (
  SELECT cluster, string_agg(kind || ' ' || namespace || '/' || name, ', ' ORDER BY kind, namespace, name) AS objects
  FROM candidates
  WHERE coalesce(array_has({{ingress_controllers}}, name), false)
     OR coalesce(array_has({{ingress_controllers}}, labels['app.kubernetes.io/name']), false)
     OR coalesce(array_has({{ingress_controllers}}, labels['app']), false)
     OR coalesce(array_has({{ingress_controllers}}, labels['k8s-app']), false)
  GROUP BY cluster
)
SELECT c.cluster, CAST(NULL AS VARCHAR) AS namespace, 'Cluster' AS kind, c.cluster AS name,
       CASE WHEN f.objects IS NULL THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN f.objects IS NULL
            THEN 'cluster ' || c.cluster || ' runs no ingress controller (looked for '
                 || array_to_string({{ingress_controllers}}, ', ') || ')'
            ELSE 'cluster ' || c.cluster || ' runs ingress controller ' || f.objects END AS reason
FROM clusters c
LEFT JOIN found f ON f.cluster = c.cluster
ORDER BY c.cluster, namespace, kind, name;
