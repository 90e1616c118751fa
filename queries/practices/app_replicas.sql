-- id: practices.app_replicas
-- title: Applications run at least two replicas
-- severity: medium
-- frameworks: Kubernetes Best Practices, Pulumi Crosswalk apps
-- rationale: A single replica is down during every node drain, eviction,
--   crash and rollout. Two or more replicas (spread over nodes) keep the
--   service answering while Kubernetes does its routine work.
-- remediation: Set spec.replicas to 2 or more (or the HPA's minReplicas when
--   an autoscaler manages the workload), and spread the replicas with
--   topologySpreadConstraints or pod anti-affinity.
-- param: min_replicas = 2
-- param: practices_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every Deployment and StatefulSet (deployments,
--   stateful_sets), one row each. Status skip when its namespace is in
--   practices_exempt_namespaces. The guaranteed replica count is, when a
--   HorizontalPodAutoscaler of the same cluster and namespace targets it
--   (target_kind and target_name equal the workload's kind and name), the
--   smallest min_replicas of those autoscalers (NULL min_replicas counts as
--   1); otherwise spec replicas (NULL counts as 1, the API default). Status
--   skip when there is no autoscaler and replicas is 0 (scaled to zero on
--   purpose). alarm when the guaranteed count is below min_replicas
--   (default 2); else ok. The reason gives the count and where it comes
--   from.
WITH apps AS (
  SELECT cluster, namespace, 'Deployment' AS kind, name, replicas FROM deployments
  UNION ALL
  SELECT cluster, namespace, 'StatefulSet' AS kind, name, replicas FROM stateful_sets
),
hpa AS (
  SELECT cluster, namespace, target_kind, target_name,
         min(coalesce(min_replicas, 1)) AS min_replicas,
         string_agg(name, ', ' ORDER BY name) AS names
  FROM horizontal_pod_autoscalers
  GROUP BY cluster, namespace, target_kind, target_name
),
judged AS (
  SELECT a.cluster, a.namespace, a.kind, a.name, a.replicas, h.names AS hpa_names,
         CASE WHEN h.names IS NOT NULL THEN h.min_replicas ELSE coalesce(a.replicas, 1) END AS guaranteed
  FROM apps a
  LEFT JOIN hpa h
    ON h.cluster = a.cluster AND h.namespace = a.namespace
   AND h.target_kind = a.kind AND h.target_name = a.name
)
SELECT cluster, namespace, kind, name,
       CASE WHEN array_has({{practices_exempt_namespaces}}, namespace) THEN 'skip'
            WHEN hpa_names IS NULL AND replicas = 0 THEN 'skip'
            WHEN guaranteed < CAST({{min_replicas}} AS BIGINT) THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN array_has({{practices_exempt_namespaces}}, namespace) THEN 'namespace ' || namespace || ' is exempt'
            WHEN hpa_names IS NULL AND replicas = 0 THEN kind || ' ' || name || ' is scaled to zero'
            ELSE kind || ' ' || name || ' is guaranteed ' || guaranteed
                 || CASE WHEN guaranteed = 1 THEN ' replica' ELSE ' replicas' END
                 || CASE WHEN hpa_names IS NOT NULL THEN ' (minReplicas of HorizontalPodAutoscaler ' || hpa_names || ')'
                         ELSE ' (spec.replicas)' END
                 || CASE WHEN guaranteed < CAST({{min_replicas}} AS BIGINT)
                         THEN ', fewer than ' || {{min_replicas}} ELSE '' END END AS reason
FROM judged
ORDER BY cluster, namespace, kind, name;
