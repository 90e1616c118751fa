-- id: practices.policy_engine
-- title: Every cluster runs a policy engine
-- severity: high
-- frameworks: Kubernetes Best Practices ch. 12, Pulumi Crosswalk cluster services
-- rationale: Admission policies (trusted registries, no privileged pods,
--   required labels) only hold where an engine such as Gatekeeper or Kyverno
--   enforces them. A cluster without one accepts whatever its users apply,
--   so the fleet's guardrails silently stop at its border.
-- remediation: Install the fleet's policy engine (Gatekeeper or Kyverno) with
--   the same constraints as the other clusters, through the same pipeline
--   that installs the other cluster services.
-- live: asks what a cluster has installed
-- param: policy_engines[] = gatekeeper-controller-manager, kyverno, kyverno-admission-controller
-- alarms: Evaluates every cluster of the run (the distinct clusters of
--   namespaces), one row each with namespace NULL, kind Cluster and the
--   cluster's name as name. A policy engine is a Deployment (deployments)
--   in any namespace whose name, or whose label app.kubernetes.io/name, app
--   or k8s-app, equals one of policy_engines. Status alarm when the cluster
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
  WHERE coalesce(array_has({{policy_engines}}, name), false)
     OR coalesce(array_has({{policy_engines}}, labels['app.kubernetes.io/name']), false)
     OR coalesce(array_has({{policy_engines}}, labels['app']), false)
     OR coalesce(array_has({{policy_engines}}, labels['k8s-app']), false)
  GROUP BY cluster
)
SELECT c.cluster, CAST(NULL AS VARCHAR) AS namespace, 'Cluster' AS kind, c.cluster AS name,
       CASE WHEN f.objects IS NULL THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN f.objects IS NULL
            THEN 'cluster ' || c.cluster || ' runs no policy engine (looked for '
                 || array_to_string({{policy_engines}}, ', ') || ')'
            ELSE 'cluster ' || c.cluster || ' runs policy engine ' || f.objects END AS reason
FROM clusters c
LEFT JOIN found f ON f.cluster = c.cluster
ORDER BY c.cluster, namespace, kind, name;
