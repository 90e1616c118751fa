-- id: nsa.namespace_default_deny_ingress
-- title: Namespaces have a default-deny ingress NetworkPolicy
-- severity: medium
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Network separation and
--   hardening: network policies), CIS Kubernetes Benchmark 5.3 (network
--   policies), kubescape C-0260
-- rationale: Without a NetworkPolicy that selects every pod and allows no ingress, any
--   pod in the namespace accepts connections from every pod in the cluster; a
--   compromised pod can then move laterally freely.
-- remediation: Create a NetworkPolicy with podSelector: {}, policyTypes: [Ingress] and
--   no ingress rules, then allow the flows the namespace needs with narrower
--   policies.
-- alarms: Evaluated: every Namespace (kind Namespace, namespace column null, name = the
--   namespace). Namespaces in the exempt_namespaces list get status skip.
--   Otherwise ok when the namespace holds at least one NetworkPolicy (same
--   cluster) with selects_all_pods true and denies_all_ingress true (it governs
--   Ingress and allows none); alarm when it holds none.
-- param: exempt_namespaces[] = kube-system, kube-public, kube-node-lease
WITH found AS (
  SELECT cluster, namespace, string_agg(name, ', ' ORDER BY name) AS policies
  FROM network_policies
  WHERE selects_all_pods AND denies_all_ingress
  GROUP BY cluster, namespace
)
SELECT n.cluster, n.namespace, 'Namespace' AS kind, n.name,
       CASE
         WHEN coalesce(array_has({{exempt_namespaces}}, n.name), false) THEN 'skip'
         WHEN f.policies IS NOT NULL THEN 'ok'
         ELSE 'alarm'
       END AS status,
       CASE
         WHEN coalesce(array_has({{exempt_namespaces}}, n.name), false) THEN 'namespace is exempt (exempt_namespaces)'
         WHEN f.policies IS NOT NULL THEN 'default-deny ingress policy ' || f.policies
         ELSE 'no NetworkPolicy selects every pod and denies all ingress'
       END AS reason
FROM namespaces n
LEFT JOIN found f ON f.cluster = n.cluster AND f.namespace = n.name
ORDER BY n.cluster, n.namespace, kind, n.name;
