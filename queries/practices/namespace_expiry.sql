-- id: practices.namespace_expiry
-- title: Namespaces with a TTL or expiry annotation have not expired
-- severity: low
-- frameworks: Kubernetes Best Practices ch. 2
-- rationale: Preview and test namespaces are created with a time to live so
--   that they get cleaned up. One that outlived its expiry keeps pods, load
--   balancers, volumes and credentials running that nobody uses or patches:
--   cost and attack surface for nothing. This is the reap list.
-- remediation: Delete the namespace (kubectl delete namespace NS) or, if it
--   is still needed, extend or remove its TTL/expiry annotation; check that
--   the janitor that should have reaped it is running.
-- param: ttl_annotations[] = janitor/ttl
-- param: expiry_annotations[] = janitor/expires, kq.example.com/expires
-- live: counts the time to live from the namespace's creation, which only a server records
-- alarms: Evaluates every Namespace carrying at least one annotation named
--   in ttl_annotations or expiry_annotations (namespaces without any are not
--   evaluated and produce no row), one row each with namespace NULL, kind
--   Namespace and the namespace's name. A TTL value (kube-janitor syntax:
--   an integer of at most 9 digits followed by s, m, h, d or w, spaces
--   allowed around and between) expires at the namespace's creation time
--   plus that duration, capped at 200 years; the value forever (any case)
--   never expires. An expiry value is a timestamp - RFC 3339
--   (2026-04-18T11:57:20Z), YYYY-MM-DDTHH:MM (taken as UTC) or YYYY-MM-DD
--   (midnight UTC). Status alarm when the earliest of the namespace's
--   expiries is at or before the time of the run (now()); the reason names
--   that expiry, the annotation and its value. Otherwise status error when
--   some annotation value cannot be parsed (the reason quotes it). Otherwise
--   ok. The expires column holds the earliest expiry (RFC 3339, UTC), NULL
--   when every annotation says forever.
WITH annotated AS (
  SELECT n.cluster, n.name, n.created, k AS annotation, 'ttl' AS type,
         trim(map_extract(n.annotations, k)[1]) AS value
  FROM namespaces n
  CROSS JOIN (SELECT unnest({{ttl_annotations}}) AS k) keys
  WHERE map_extract(n.annotations, k)[1] IS NOT NULL
  UNION ALL
  SELECT n.cluster, n.name, n.created, k AS annotation, 'expires' AS type,
         trim(map_extract(n.annotations, k)[1]) AS value
  FROM namespaces n
  CROSS JOIN (SELECT unnest({{expiry_annotations}}) AS k) keys
  WHERE map_extract(n.annotations, k)[1] IS NOT NULL
),
parsed AS (
  SELECT cluster, name, created, annotation, type, value,
         CASE WHEN type = 'ttl' AND lower(value) = 'forever' THEN true
              WHEN type = 'ttl' THEN regexp_like(value, '^[0-9]{1,9} *[smhdw]$')
              WHEN regexp_like(value, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$')
                THEN TRY_CAST(value || ':00Z' AS TIMESTAMP) IS NOT NULL
              ELSE TRY_CAST(value AS TIMESTAMP) IS NOT NULL END AS valid,
         CASE WHEN type = 'ttl' AND regexp_like(value, '^[0-9]{1,9} *[smhdw]$')
                THEN to_timestamp_seconds(
                       CAST(date_part('epoch', created) AS BIGINT)
                       -- capped at 200 years, the range of the timestamp type
                       + least(CAST(regexp_match(value, '^([0-9]+)')[1] AS BIGINT)
                               * CASE regexp_match(value, '([smhdw])$')[1]
                                   WHEN 's' THEN 1 WHEN 'm' THEN 60 WHEN 'h' THEN 3600
                                   WHEN 'd' THEN 86400 ELSE 604800 END,
                               6311390400))
              WHEN type = 'expires' AND regexp_like(value, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$')
                THEN TRY_CAST(value || ':00Z' AS TIMESTAMP)
              WHEN type = 'expires' THEN TRY_CAST(value AS TIMESTAMP)
         END AS expires_at
  FROM annotated
),
ranked AS (
  SELECT *, row_number() OVER (PARTITION BY cluster, name
                               ORDER BY expires_at ASC NULLS LAST, annotation) AS rn
  FROM parsed
),
per_ns AS (
  SELECT cluster, name,
         max(CASE WHEN rn = 1 THEN expires_at END) AS expires_at,
         max(CASE WHEN rn = 1 THEN annotation || '=' || value
                    || CASE WHEN type = 'ttl' AND expires_at IS NOT NULL THEN ' after creation at '
                                 || to_char(created, '%Y-%m-%dT%H:%M:%SZ') ELSE '' END END) AS source,
         string_agg(CASE WHEN NOT valid THEN annotation || '=''' || value || '''' END, ', '
                    ORDER BY annotation) AS invalid
  FROM ranked
  GROUP BY cluster, name
)
SELECT cluster, CAST(NULL AS VARCHAR) AS namespace, 'Namespace' AS kind, name,
       CASE WHEN expires_at <= now() THEN 'alarm'
            WHEN invalid IS NOT NULL THEN 'error'
            ELSE 'ok' END AS status,
       CASE WHEN expires_at <= now()
              THEN 'namespace ' || name || ' expired at ' || to_char(expires_at, '%Y-%m-%dT%H:%M:%SZ')
                   || ' (' || source || ')'
            WHEN invalid IS NOT NULL
              THEN 'namespace ' || name || ' has an expiry annotation that cannot be parsed: ' || invalid
            WHEN expires_at IS NULL THEN 'namespace ' || name || ' never expires (' || source || ')'
            ELSE 'namespace ' || name || ' expires at ' || to_char(expires_at, '%Y-%m-%dT%H:%M:%SZ')
                 || ' (' || source || ')' END AS reason,
       to_char(expires_at, '%Y-%m-%dT%H:%M:%SZ') AS expires
FROM per_ns
ORDER BY cluster, namespace, kind, name;
