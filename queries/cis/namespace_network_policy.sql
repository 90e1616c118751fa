-- id: cis.namespace_network_policy
-- title: Every namespace has a NetworkPolicy
-- severity: medium
-- frameworks: CIS 5.3.2
-- rationale: Without any NetworkPolicy every pod of the namespace accepts
--   traffic from every pod of the cluster and can reach all of them, so one
--   compromised workload can probe databases and internal APIs everywhere.
-- remediation: Add at least a default-deny policy (podSelector {} with
--   policyTypes Ingress and Egress) and explicit allow rules for the traffic
--   the namespace needs; check that the CNI enforces NetworkPolicy.
-- param: cis_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every Namespace (namespaces), one row each with namespace
--   NULL, kind Namespace and the namespace's name. Status skip when its name
--   is in cis_exempt_namespaces. Otherwise alarm when network_policies holds
--   no NetworkPolicy with that cluster and namespace; ok when it holds at
--   least one, whatever the policy selects (the reason counts them and says
--   whether one selects all pods).
WITH pol AS (
  SELECT cluster, namespace, count(*) AS policies,
         bool_or(selects_all_pods) AS covers_all,
         string_agg(name, ', ' ORDER BY name) AS names
  FROM network_policies
  GROUP BY cluster, namespace
)
SELECT n.cluster, CAST(NULL AS VARCHAR) AS namespace, 'Namespace' AS kind, n.name,
       CASE WHEN array_has({{cis_exempt_namespaces}}, n.name) THEN 'skip'
            WHEN p.policies IS NULL THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN array_has({{cis_exempt_namespaces}}, n.name) THEN 'namespace ' || n.name || ' is exempt'
            WHEN p.policies IS NULL THEN 'namespace ' || n.name || ' has no NetworkPolicy'
            ELSE 'namespace ' || n.name || ' has ' || p.policies
                 || CASE WHEN p.policies = 1 THEN ' NetworkPolicy (' ELSE ' NetworkPolicies (' END || p.names || ')'
                 || CASE WHEN p.covers_all THEN ', one selecting every pod' ELSE ', none selecting every pod' END
       END AS reason
FROM namespaces n
LEFT JOIN pol p ON p.cluster = n.cluster AND p.namespace = n.name
ORDER BY n.cluster, namespace, kind, n.name;
