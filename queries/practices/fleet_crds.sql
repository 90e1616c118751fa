-- id: practices.fleet_crds
-- title: CustomResourceDefinitions are the same on every cluster of the fleet
-- severity: low
-- frameworks: Kubernetes Best Practices ch. 12, Pulumi Crosswalk cluster services
-- rationale: CRDs are the API of the fleet's operators (cert-manager,
--   Gatekeeper, ...). A CRD missing on one cluster, or installed from an
--   older release with other stored or served versions, makes the same
--   manifest apply on one cluster and fail - or be silently converted - on
--   another.
-- remediation: Install or upgrade the CRD from the same release as on the
--   cluster holding the newest one (usually by upgrading the operator that
--   ships it); if a cluster is meant to differ, waive it.
-- live: compares the clusters of the fleet with each other
-- alarms: The fleet is the distinct clusters of namespaces. Evaluates every
--   pair of a fleet cluster and a CRD name (custom_resource_definitions.name)
--   found on at least one cluster, one row each (namespace NULL, kind
--   CustomResourceDefinition, the CRD's name - also on clusters that lack
--   it). A CRD's version on a cluster is its label app.kubernetes.io/version
--   followed by a space (omitted when the label is absent), then
--   "(storage S, served A,B)" with S the storage_version (? when NULL) and
--   the served_versions sorted. The reference is the newest version in the
--   fleet: ordered by the release key of the label (the first match of
--   N.N[.N][non-digits N], up to four numbers compared numerically, missing
--   numbers 0, no label or no match lowest), then by the storage version's
--   Kubernetes API-version priority (every GA vN above every vNbetaM above
--   every vNalphaM; within a stage higher N, then higher M; anything else
--   lowest), then by the greater version string.
--   Newest rather than majority: drift means lagging behind the cluster
--   upgraded last, and small fleets often have no majority. Status alarm
--   when the cluster lacks the CRD (the reason lists the clusters that have
--   it) or its version differs from the reference (the reason names both
--   and where the reference is); ok when it has the reference version.
WITH fleet AS (
  SELECT DISTINCT cluster FROM namespaces
),
crds AS (
  SELECT cluster, name,
         coalesce(labels['app.kubernetes.io/version'] || ' ', '') || '(storage ' || coalesce(storage_version, '?')
           || ', served ' || coalesce(array_to_string(array_sort(served_versions), ','), '') || ')' AS version,
         regexp_match(labels['app.kubernetes.io/version'],
           '([0-9]{1,10})\.([0-9]{1,10})(?:\.([0-9]{1,10}))?(?:[^0-9]+([0-9]{1,10}))?') AS m,
         regexp_match(storage_version, '^v([0-9]{1,10})(?:(alpha|beta)([0-9]{1,10}))?$') AS s
  FROM custom_resource_definitions
),
keyed AS (
  SELECT cluster, name, version,
         CASE WHEN m IS NULL THEN '0'
              ELSE '1' || lpad(coalesce(m[1], '0'), 10, '0') || lpad(coalesce(m[2], '0'), 10, '0')
                   || lpad(coalesce(m[3], '0'), 10, '0') || lpad(coalesce(m[4], '0'), 10, '0') END
         || '/' ||
         CASE WHEN s IS NULL THEN '0'
              ELSE '1' || CASE s[2] WHEN 'alpha' THEN '1' WHEN 'beta' THEN '2' ELSE '3' END
                   || lpad(s[1], 10, '0') || lpad(coalesce(s[3], '0'), 10, '0') END AS version_key
  FROM crds
),
reference AS (
  SELECT name, version AS ref_version, cluster AS ref_cluster
  FROM (SELECT *, row_number() OVER (PARTITION BY name ORDER BY version_key DESC, version DESC, cluster) AS rn
        FROM keyed) r
  WHERE rn = 1
),
holders AS (
  SELECT name, string_agg(cluster, ', ' ORDER BY cluster) AS clusters
  FROM keyed
  GROUP BY name
)
SELECT f.cluster, CAST(NULL AS VARCHAR) AS namespace, 'CustomResourceDefinition' AS kind, r.name,
       CASE WHEN k.version IS NULL OR k.version <> r.ref_version THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN k.version IS NULL
              THEN 'CRD ' || r.name || ' is missing; it is installed on ' || h.clusters
            WHEN k.version <> r.ref_version
              THEN 'CRD ' || r.name || ' is at ' || k.version || ', not the fleet''s newest '
                   || r.ref_version || ' on ' || r.ref_cluster
            ELSE 'CRD ' || r.name || ' is at ' || k.version || ', the fleet''s newest' END AS reason
FROM fleet f
CROSS JOIN reference r
JOIN holders h ON h.name = r.name
LEFT JOIN keyed k ON k.cluster = f.cluster AND k.name = r.name
ORDER BY f.cluster, namespace, kind, r.name;
