-- id: practices.namespace_quota
-- title: Every namespace has a ResourceQuota
-- severity: medium
-- frameworks: Kubernetes Best Practices ch. 2, Pulumi Crosswalk cluster configuration
-- rationale: Without a quota one namespace - a runaway HPA, a stuck Job
--   loop, a team's load test - can take every CPU, byte of memory and pod
--   slot of the cluster and starve the others. A quota turns a cluster-wide
--   outage into one team's error message.
-- remediation: Create a ResourceQuota in the namespace capping
--   requests.cpu, requests.memory, limits and pods at what the team has been
--   given (pair it with a LimitRange so pods without requests still fit).
-- param: practices_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every Namespace (namespaces), one row each with
--   namespace NULL, kind Namespace and the namespace's name. Status skip when
--   its name is in practices_exempt_namespaces. Otherwise alarm when
--   resource_quotas holds no ResourceQuota with that cluster and namespace
--   (whatever its content); ok when it holds at least one (the reason names
--   them).
WITH q AS (
  SELECT cluster, namespace, string_agg(name, ', ' ORDER BY name) AS names
  FROM resource_quotas
  GROUP BY cluster, namespace
)
SELECT n.cluster, CAST(NULL AS VARCHAR) AS namespace, 'Namespace' AS kind, n.name,
       CASE WHEN array_has({{practices_exempt_namespaces}}, n.name) THEN 'skip'
            WHEN q.names IS NULL THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN array_has({{practices_exempt_namespaces}}, n.name) THEN 'namespace ' || n.name || ' is exempt'
            WHEN q.names IS NULL THEN 'namespace ' || n.name || ' has no ResourceQuota'
            ELSE 'namespace ' || n.name || ' is capped by ResourceQuota ' || q.names END AS reason
FROM namespaces n
LEFT JOIN q ON q.cluster = n.cluster AND q.namespace = n.name
ORDER BY n.cluster, namespace, kind, n.name;
