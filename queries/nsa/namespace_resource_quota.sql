-- id: nsa.namespace_resource_quota
-- title: Namespaces have a CPU or memory ResourceQuota
-- severity: low
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Denial of service: resource
--   policies, ResourceQuota)
-- rationale: A ResourceQuota caps the total CPU and memory a namespace can claim, so one
--   team or one runaway deployment cannot exhaust the cluster.
-- remediation: Create a ResourceQuota with hard requests.cpu, requests.memory (and
--   limits.cpu, limits.memory) in the namespace.
-- alarms: Evaluated: every Namespace (kind Namespace, namespace column null, name = the
--   namespace). Namespaces in the exempt_namespaces list get status skip.
--   Otherwise ok when at least one ResourceQuota in the namespace (same cluster)
--   has a non-null cpu_requests_hard, memory_requests_hard, cpu_limits_hard or
--   memory_limits_hard; alarm when none does (quotas that only count objects do
--   not count).
-- param: exempt_namespaces[] = kube-system, kube-public, kube-node-lease
WITH found AS (
  SELECT cluster, namespace, string_agg(name, ', ' ORDER BY name) AS objects
  FROM resource_quotas
  WHERE cpu_requests_hard IS NOT NULL OR memory_requests_hard IS NOT NULL
     OR cpu_limits_hard IS NOT NULL OR memory_limits_hard IS NOT NULL
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
         WHEN f.objects IS NOT NULL THEN 'ResourceQuota ' || f.objects || ' caps CPU or memory'
         ELSE 'namespace has no ResourceQuota on CPU or memory'
       END AS reason
FROM namespaces n
LEFT JOIN found f ON f.cluster = n.cluster AND f.namespace = n.name
ORDER BY n.cluster, n.namespace, kind, n.name;
