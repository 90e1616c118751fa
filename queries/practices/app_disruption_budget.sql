-- id: practices.app_disruption_budget
-- title: Applications are covered by a PodDisruptionBudget
-- severity: medium
-- frameworks: Kubernetes Best Practices, Pulumi Crosswalk apps
-- rationale: Node drains, cluster upgrades and autoscaler scale-downs evict
--   pods voluntarily. Without a PodDisruptionBudget nothing stops them from
--   evicting every replica of an application at once; with one, evictions
--   wait until enough replicas are ready elsewhere.
-- remediation: Add a PodDisruptionBudget in the workload's namespace whose
--   selector matches its pod template labels, with maxUnavailable 1 (or a
--   minAvailable below the replica count, so drains can still proceed).
-- param: practices_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every Deployment and StatefulSet (deployments,
--   stateful_sets), one row each. Status skip when its namespace is in
--   practices_exempt_namespaces. Otherwise ok when some PodDisruptionBudget
--   (pod_disruption_budgets) of the same cluster and namespace selects the
--   workload's pod template labels - selector_matches(pdb.selector,
--   template_labels) is true, so an empty selector matches every pod as in
--   policy/v1, and a NULL selector or NULL template labels match nothing;
--   the reason names the budgets. alarm when none does.
WITH apps AS (
  SELECT cluster, namespace, 'Deployment' AS kind, name, template_labels FROM deployments
  UNION ALL
  SELECT cluster, namespace, 'StatefulSet' AS kind, name, template_labels FROM stateful_sets
),
covered AS (
  SELECT a.cluster, a.namespace, a.kind, a.name, string_agg(p.name, ', ' ORDER BY p.name) AS budgets
  FROM apps a
  JOIN pod_disruption_budgets p
    ON p.cluster = a.cluster AND p.namespace = a.namespace
   AND selector_matches(p.selector, a.template_labels)
  GROUP BY a.cluster, a.namespace, a.kind, a.name
)
SELECT a.cluster, a.namespace, a.kind, a.name,
       CASE WHEN array_has({{practices_exempt_namespaces}}, a.namespace) THEN 'skip'
            WHEN c.budgets IS NULL THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN array_has({{practices_exempt_namespaces}}, a.namespace) THEN 'namespace ' || a.namespace || ' is exempt'
            WHEN c.budgets IS NULL THEN 'no PodDisruptionBudget selects the pods of ' || a.kind || ' ' || a.name
            ELSE 'pods of ' || a.kind || ' ' || a.name || ' are protected by PodDisruptionBudget ' || c.budgets END AS reason
FROM apps a
LEFT JOIN covered c
  ON c.cluster = a.cluster AND c.namespace = a.namespace AND c.kind = a.kind AND c.name = a.name
ORDER BY a.cluster, a.namespace, a.kind, a.name;
