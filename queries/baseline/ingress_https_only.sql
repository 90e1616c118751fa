-- id: baseline.ingress_https_only
-- title: Ingresses serve HTTPS only
-- severity: high
-- frameworks: Kubernetes Best Practices ch. 11, Gatekeeper K8sHttpsOnly, Polaris tlsSettingsMissing
-- rationale: Plain HTTP exposes credentials, cookies and data to anyone on the path
--   and lets an attacker rewrite responses; every host an Ingress serves needs a
--   certificate and the plain-HTTP listener must be turned off.
-- remediation: Add a spec.tls entry (hosts and secretName) covering every rule host
--   and set the annotation kubernetes.io/ingress.allow-http: "false".
-- alarms: Every Ingress is evaluated. It alarms when any of these holds: (1) it has no
--   spec.tls entry (ingresses.tls is not true); (2) plain HTTP is allowed
--   (ingresses.allow_http is not false, i.e. the annotation kubernetes.io/ingress.allow-http
--   is not "false" in any letter case, as ingress-gce's ParseBool reads it); (3) a rule host (ingress_rules rows that are not the default backend)
--   is not covered by a TLS host of the same Ingress (ingress_tls). A TLS host covers a
--   rule host when both are equal ignoring case and a trailing dot, or when the TLS host
--   is a wildcard '*.x' and the rule host is a concrete name one label below x
--   (host_matches); a wildcard rule host is covered only by the same wildcard; a rule
--   without host is covered only by a TLS entry that lists no hosts. Otherwise ok.
WITH rule_hosts AS (
  SELECT DISTINCT cluster, namespace, ingress_name, host
  FROM ingress_rules
  WHERE default_backend IS NOT TRUE
), tls_hosts AS (
  SELECT DISTINCT cluster, namespace, ingress_name, host
  FROM ingress_tls
), covered AS (
  SELECT DISTINCT r.cluster, r.namespace, r.ingress_name, r.host
  FROM rule_hosts r
  JOIN tls_hosts t
    ON t.cluster = r.cluster AND t.namespace = r.namespace AND t.ingress_name = r.ingress_name
  WHERE (r.host IS NULL AND t.host IS NULL)
     OR (r.host IS NOT NULL AND t.host IS NOT NULL
         AND (lower(trim(TRAILING '.' FROM trim(t.host))) = lower(trim(TRAILING '.' FROM trim(r.host)))
              OR (trim(t.host) LIKE '*.%' AND trim(r.host) NOT LIKE '*%' AND host_matches(t.host, r.host))))
), uncovered AS (
  SELECT r.cluster, r.namespace, r.ingress_name,
         string_agg(coalesce(r.host, '(any host)'), ', ' ORDER BY r.host) AS hosts
  FROM rule_hosts r
  LEFT JOIN covered c
    ON c.cluster = r.cluster AND c.namespace = r.namespace AND c.ingress_name = r.ingress_name
   AND c.host IS NOT DISTINCT FROM r.host
  WHERE c.ingress_name IS NULL
  GROUP BY r.cluster, r.namespace, r.ingress_name
)
SELECT i.cluster, i.namespace, 'Ingress' AS kind, i.name,
       CASE
         WHEN i.tls IS NOT TRUE OR i.allow_http IS NOT FALSE OR u.hosts IS NOT NULL THEN 'alarm'
         ELSE 'ok'
       END AS status,
       CASE
         WHEN i.tls IS NOT TRUE OR i.allow_http IS NOT FALSE OR u.hosts IS NOT NULL THEN
           concat_ws('; ',
             CASE WHEN i.tls IS NOT TRUE THEN 'no TLS configured (spec.tls is empty)' END,
             CASE WHEN i.tls IS TRUE AND u.hosts IS NOT NULL THEN 'hosts without a TLS certificate: ' || u.hosts END,
             CASE WHEN i.allow_http IS NOT FALSE
                  THEN 'plain HTTP allowed (annotation kubernetes.io/ingress.allow-http is not "false")' END)
         ELSE 'TLS covers every host and plain HTTP is disabled'
       END AS reason
FROM ingresses i
LEFT JOIN uncovered u
  ON u.cluster = i.cluster AND u.namespace = i.namespace AND u.ingress_name = i.name
ORDER BY i.cluster, i.namespace, kind, i.name;
