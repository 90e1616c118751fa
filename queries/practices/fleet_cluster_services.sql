-- id: practices.fleet_cluster_services
-- title: Cluster services are the same on every cluster of the fleet
-- severity: medium
-- frameworks: Kubernetes Best Practices ch. 12, Pulumi Crosswalk cluster services
-- rationale: A fleet is only manageable when its clusters are alike: the
--   same CNI, DNS, ingress, monitoring and policy components at the same
--   versions. A component missing on one cluster, or stuck at an old
--   version, is configuration drift - the cluster where the runbook, the
--   security fix or the alert rule does not apply.
-- remediation: Install the missing component, or upgrade it to the fleet's
--   newest version, through the pipeline that manages cluster services
--   (GitOps, Pulumi, Helm); if a cluster is meant to differ, waive it.
-- live: compares the clusters of the fleet with each other
-- param: fleet_namespaces[] = kube-system, monitoring, logging, ingress-nginx, cert-manager, gatekeeper-system, kyverno, istio-system
-- alarms: A cluster service is a Deployment, DaemonSet or StatefulSet
--   (deployments, daemon_sets, stateful_sets) in a namespace of
--   fleet_namespaces, identified by (namespace, kind, name). The fleet is
--   the distinct clusters of namespaces. Evaluates every pair of a fleet
--   cluster and a cluster service found on at least one cluster, one row
--   each (namespace, kind and name of the service, also on clusters that
--   lack it). A service's version on a cluster is the image tag (else the
--   digest, else '?') of each regular container of its pod template
--   (workload_containers), ordered by container name and joined with ', '.
--   The fleet's reference version of a service is the newest of its
--   versions: the highest version key, where the key is the first match of
--   N.N[.N][non-digits N] in the version string (up to four numbers,
--   compared numerically, a missing number counting 0; no match sorts
--   lowest), ties broken by the greater version string. Newest rather than
--   majority, because drift means lagging behind the cluster that was
--   upgraded last, and because small fleets have no majority when every
--   cluster differs. Status alarm when the cluster lacks the service (the
--   reason lists the clusters that have it), or when its version differs
--   from the reference (the reason names both and the cluster holding the
--   reference); ok when it runs the reference version.
WITH fleet AS (
  SELECT DISTINCT cluster FROM namespaces
),
components AS (
  SELECT cluster, namespace, 'Deployment' AS kind, name FROM deployments
  WHERE array_has({{fleet_namespaces}}, namespace)
  UNION ALL
  SELECT cluster, namespace, 'DaemonSet' AS kind, name FROM daemon_sets
  WHERE array_has({{fleet_namespaces}}, namespace)
  UNION ALL
  SELECT cluster, namespace, 'StatefulSet' AS kind, name FROM stateful_sets
  WHERE array_has({{fleet_namespaces}}, namespace)
),
versions AS (
  SELECT cluster, namespace, workload_kind AS kind, workload_name AS name,
         string_agg(coalesce(tag, digest, '?'), ', ' ORDER BY name) AS version
  FROM workload_containers
  WHERE container_type = 'regular' AND array_has({{fleet_namespaces}}, namespace)
  GROUP BY cluster, namespace, workload_kind, workload_name
),
present AS (
  SELECT s.cluster, s.namespace, s.kind, s.name, coalesce(v.version, '?') AS version,
         regexp_match(coalesce(v.version, '?'),
           '([0-9]{1,10})\.([0-9]{1,10})(?:\.([0-9]{1,10}))?(?:[^0-9]+([0-9]{1,10}))?') AS m
  FROM components s
  LEFT JOIN versions v
    ON v.cluster = s.cluster AND v.namespace = s.namespace AND v.kind = s.kind AND v.name = s.name
),
keyed AS (
  SELECT cluster, namespace, kind, name, version,
         CASE WHEN m IS NULL THEN ''
              ELSE lpad(coalesce(m[1], '0'), 10, '0') || lpad(coalesce(m[2], '0'), 10, '0')
                   || lpad(coalesce(m[3], '0'), 10, '0') || lpad(coalesce(m[4], '0'), 10, '0') END AS version_key
  FROM present
),
reference AS (
  SELECT namespace, kind, name, version AS ref_version, cluster AS ref_cluster
  FROM (SELECT *, row_number() OVER (PARTITION BY namespace, kind, name
                                     ORDER BY version_key DESC, version DESC, cluster) AS rn
        FROM keyed) r
  WHERE rn = 1
),
holders AS (
  SELECT namespace, kind, name, string_agg(cluster || ' (' || version || ')', ', ' ORDER BY cluster) AS clusters
  FROM keyed
  GROUP BY namespace, kind, name
),
grid AS (
  SELECT f.cluster, r.namespace, r.kind, r.name, r.ref_version, r.ref_cluster, h.clusters
  FROM fleet f
  CROSS JOIN reference r
  JOIN holders h ON h.namespace = r.namespace AND h.kind = r.kind AND h.name = r.name
)
SELECT g.cluster, g.namespace, g.kind, g.name,
       CASE WHEN k.version IS NULL THEN 'alarm'
            WHEN k.version <> g.ref_version THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN k.version IS NULL
              THEN g.kind || ' ' || g.namespace || '/' || g.name || ' is missing; it runs on ' || g.clusters
            WHEN k.version <> g.ref_version
              THEN g.kind || ' ' || g.namespace || '/' || g.name || ' runs ' || k.version
                   || ', not the fleet''s newest ' || g.ref_version || ' on ' || g.ref_cluster
            ELSE g.kind || ' ' || g.namespace || '/' || g.name || ' runs ' || k.version
                 || ', the fleet''s newest' END AS reason
FROM grid g
LEFT JOIN keyed k
  ON k.cluster = g.cluster AND k.namespace = g.namespace AND k.kind = g.kind AND k.name = g.name
ORDER BY g.cluster, g.namespace, g.kind, g.name;
