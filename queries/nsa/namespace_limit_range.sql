-- id: nsa.namespace_limit_range
-- title: Namespaces have a LimitRange
-- severity: low
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Denial of service: resource
--   policies, LimitRange)
-- rationale: A LimitRange gives every container default requests and limits and caps
--   what one container may ask for, so a pod deployed without resources cannot
--   take a whole node.
-- remediation: Create a LimitRange of type Container with default, defaultRequest and
--   max values in the namespace.
-- alarms: Evaluated: every Namespace (kind Namespace, namespace column null, name = the
--   namespace). Namespaces in the exempt_namespaces list get status skip.
--   Otherwise ok when at least one LimitRange exists in the namespace (same
--   cluster), alarm when none does.
-- param: exempt_namespaces[] = kube-system, kube-public, kube-node-lease
WITH found AS (
  SELECT cluster, namespace, string_agg(name, ', ' ORDER BY name) AS objects
  FROM limit_ranges
  GROUP BY cluster, namespace
)
SELECT n.cluster, n.namespace, 'Namespace' AS kind, n.name,
       CASE
         WHEN coalesce(array_has({{exempt_namespaces}}, n.name), false) THEN 'skip'
         WHEN f.objects IS NOT NULL THEN 'ok'
         ELSE 'alarm'
       END AS status,
       CASE
         WHEN coalesce(array_has({{exempt_namespaces}}, n.name), false) THEN 'namespace is exempt (exempt_namespaces)'
         WHEN f.objects IS NOT NULL THEN 'LimitRange ' || f.objects
         ELSE 'namespace has no LimitRange'
       END AS reason
FROM namespaces n
LEFT JOIN found f ON f.cluster = n.cluster AND f.namespace = n.name
ORDER BY n.cluster, n.namespace, kind, n.name;
