-- id: baseline.ingress_host_unique
-- title: Ingress hostnames do not overlap
-- severity: medium
-- frameworks: Kubernetes Best Practices ch. 11, Gatekeeper K8sUniqueIngressHost
-- rationale: When two Ingresses claim the same host the controller merges or picks
--   one of them, so one team can silently take over (or break) another team's
--   traffic; a wildcard host overlaps every concrete host one label below it.
-- remediation: Give each Ingress its own host, or move the paths of a shared host
--   into a single Ingress owned by one team.
-- alarms: Every Ingress is evaluated. Its hosts are the host values of its
--   ingress_rules rows, default-backend rows excluded, a null host (a rule for every
--   host) taken as ''. It alarms when one of its hosts matches, per host_matches
--   (case-insensitive, trailing dot ignored; '*.x' matches exactly one extra label;
--   '' matches any host), a host of another Ingress in the same cluster (another
--   namespace or another name; ingress class is ignored; an Ingress never overlaps
--   itself). An Ingress without host rules is ok.
WITH r AS (
  SELECT DISTINCT cluster, namespace, ingress_name, coalesce(host, '') AS host
  FROM ingress_rules
  WHERE default_backend IS NOT TRUE
), pairs AS (
  SELECT a.cluster, a.namespace, a.ingress_name, a.host,
         string_agg(
           b.namespace || '/' || b.ingress_name
           || ' (' || CASE WHEN b.host = '' THEN 'any host' ELSE b.host END || ')',
           ', '
           ORDER BY b.namespace, b.ingress_name, b.host) AS others
  FROM r a
  JOIN r b
    ON b.cluster = a.cluster
   AND NOT (b.namespace = a.namespace AND b.ingress_name = a.ingress_name)
   AND host_matches(a.host, b.host)
  GROUP BY a.cluster, a.namespace, a.ingress_name, a.host
), overlaps AS (
  SELECT cluster, namespace, ingress_name,
         string_agg(
           'host ' || CASE WHEN host = '' THEN '(any)' ELSE host END || ' overlaps Ingress ' || others,
           '; ' ORDER BY host) AS detail
  FROM pairs
  GROUP BY cluster, namespace, ingress_name
), hosts AS (
  SELECT cluster, namespace, ingress_name,
         string_agg(CASE WHEN host = '' THEN '(any)' ELSE host END, ', ' ORDER BY host) AS hosts
  FROM r
  GROUP BY cluster, namespace, ingress_name
)
SELECT i.cluster, i.namespace, 'Ingress' AS kind, i.name,
       CASE WHEN o.detail IS NULL THEN 'ok' ELSE 'alarm' END AS status,
       CASE
         WHEN o.detail IS NOT NULL THEN o.detail
         WHEN h.hosts IS NULL THEN 'Ingress has no host rules'
         ELSE 'no other Ingress in the cluster serves ' || h.hosts
       END AS reason,
       h.hosts
FROM ingresses i
LEFT JOIN overlaps o
  ON o.cluster = i.cluster AND o.namespace = i.namespace AND o.ingress_name = i.name
LEFT JOIN hosts h
  ON h.cluster = i.cluster AND h.namespace = i.namespace AND h.ingress_name = i.name
ORDER BY i.cluster, i.namespace, kind, i.name;
