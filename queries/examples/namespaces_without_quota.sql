-- Namespaces without a ResourceQuota: nothing caps what they can consume.
SELECT n.cluster, n.name AS namespace
FROM namespaces n
WHERE NOT EXISTS (
  SELECT 1 FROM resource_quotas q
  WHERE q.cluster = n.cluster AND q.namespace = n.name
)
ORDER BY n.cluster, n.name;
