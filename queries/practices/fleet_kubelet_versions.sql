-- id: practices.fleet_kubelet_versions
-- title: Every node of the fleet runs the newest kubelet version
-- severity: medium
-- frameworks: Kubernetes Best Practices ch. 12, Pulumi Crosswalk managed infrastructure
-- rationale: Clusters and node groups left on older kubelets miss security
--   fixes, drift toward the end of upstream support and the allowed
--   control-plane/kubelet version skew, and behave differently from the
--   clusters the fleet's workloads were tested on.
-- remediation: Upgrade (or replace) the lagging nodes - node group AMI or
--   launch template, managed node group version - to the fleet's newest
--   kubelet version; finish half-done rolling upgrades.
-- live: reads the nodes of every cluster
-- alarms: Evaluates every cluster of the fleet (the distinct clusters of
--   namespaces), one row each with namespace NULL, kind Cluster and the
--   cluster's name as name. The reference is the newest kubelet_version of
--   any node of the fleet: the highest version key, the key being the first
--   match of N.N[.N][non-digits N] in the version string (up to four
--   numbers compared numerically, missing numbers 0, no match lowest), ties
--   broken by the greater version string. Newest rather than majority: a
--   node behind the last upgrade is drift even when most nodes share its
--   version. Status alarm when any node of the cluster has a kubelet_version
--   different from the reference (NULL counts as different); the reason
--   lists the cluster's versions with node counts (newest first) and the
--   reference with the cluster running it. ok when every node runs the
--   reference. error when the cluster has no row in nodes (its nodes could
--   not be read).
WITH fleet AS (
  SELECT DISTINCT cluster FROM namespaces
),
keyed AS (
  SELECT cluster, coalesce(kubelet_version, '?') AS version,
         regexp_match(coalesce(kubelet_version, '?'),
           '([0-9]{1,10})\.([0-9]{1,10})(?:\.([0-9]{1,10}))?(?:[^0-9]+([0-9]{1,10}))?') AS m
  FROM nodes
),
versions AS (
  SELECT cluster, version, count(*) AS nodes,
         CASE WHEN max(m[1]) IS NULL THEN ''
              ELSE lpad(coalesce(max(m[1]), '0'), 10, '0') || lpad(coalesce(max(m[2]), '0'), 10, '0')
                   || lpad(coalesce(max(m[3]), '0'), 10, '0') || lpad(coalesce(max(m[4]), '0'), 10, '0') END
           AS version_key
  FROM keyed
  GROUP BY cluster, version
),
reference AS (
  SELECT version AS ref_version, cluster AS ref_cluster
  FROM (SELECT *, row_number() OVER (ORDER BY version_key DESC, version DESC, cluster) AS rn FROM versions) r
  WHERE rn = 1
),
per_cluster AS (
  SELECT v.cluster,
         sum(v.nodes) AS nodes,
         sum(CASE WHEN v.version <> r.ref_version THEN v.nodes ELSE 0 END) AS lagging,
         string_agg(v.version || ' (' || v.nodes || CASE WHEN v.nodes = 1 THEN ' node)' ELSE ' nodes)' END, ', ' ORDER BY v.version_key DESC, v.version DESC) AS spread
  FROM versions v CROSS JOIN reference r
  GROUP BY v.cluster
)
SELECT f.cluster, CAST(NULL AS VARCHAR) AS namespace, 'Cluster' AS kind, f.cluster AS name,
       CASE WHEN p.nodes IS NULL THEN 'error'
            WHEN p.lagging > 0 THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN p.nodes IS NULL THEN 'no node of cluster ' || f.cluster || ' could be read'
            WHEN p.lagging > 0
              THEN p.lagging || ' of ' || p.nodes || ' nodes do not run the fleet''s newest kubelet '
                   || r.ref_version || ' on ' || r.ref_cluster || '; kubelets: ' || p.spread
            ELSE 'all ' || p.nodes || ' nodes run the fleet''s newest kubelet ' || r.ref_version END AS reason
FROM fleet f
LEFT JOIN per_cluster p ON p.cluster = f.cluster
LEFT JOIN reference r ON true
ORDER BY f.cluster, namespace, kind, name;
