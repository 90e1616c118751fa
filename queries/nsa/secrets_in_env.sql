-- id: nsa.secrets_in_env
-- title: Secrets are mounted as files, not passed as environment variables
-- severity: low
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Secrets), CIS Kubernetes
--   Benchmark 5.4 (prefer secrets as files over environment variables),
--   kubescape C-0012
-- rationale: Environment variables leak into crash dumps, child processes and
--   application logs that print their configuration; a mounted file is read
--   only where it is needed and follows the Secret when it rotates.
-- remediation: Mount the Secret as a volume (or use a CSI secrets driver) and have the
--   application read the file instead of env[].valueFrom.secretKeyRef or
--   envFrom[].secretRef.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Each element of a container's env JSON
--   array with valueFrom.secretKeyRef.name set, and each element of its env_from
--   JSON array with secretRef.name set, is a secret in env. Alarm when the
--   workload has at least one; the reason lists container, variable (or envFrom)
--   and Secret. Otherwise ok.
WITH e AS (
  SELECT cluster, namespace, kind, name, container, container_type,
         unnest(json_get_array(env)) AS item
  FROM template_containers
), f AS (
  SELECT cluster, namespace, kind, name, container, container_type,
         unnest(json_get_array(env_from)) AS item
  FROM template_containers
), refs AS (
  SELECT cluster, namespace, kind, name, container, container_type,
         'env ' || coalesce(json_get_str(item, 'name'), '?') || ' from Secret '
           || json_get_str(item, 'valueFrom', 'secretKeyRef', 'name') AS ref
  FROM e
  WHERE json_get_str(item, 'valueFrom', 'secretKeyRef', 'name') IS NOT NULL
  UNION ALL
  SELECT cluster, namespace, kind, name, container, container_type,
         'every key of Secret ' || json_get_str(item, 'secretRef', 'name') || ' (envFrom)' AS ref
  FROM f
  WHERE json_get_str(item, 'secretRef', 'name') IS NOT NULL
), per_container AS (
  SELECT cluster, namespace, kind, name, container, string_agg(ref, ', ' ORDER BY ref) AS refs
  FROM refs
  GROUP BY cluster, namespace, kind, name, container
), c AS (
  SELECT t.cluster, t.namespace, t.kind, t.name, t.container,
         CASE t.container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END
           || t.container AS who,
         p.refs
  FROM template_containers AS t
  LEFT JOIN per_container p
    ON p.cluster = t.cluster AND p.namespace = t.namespace AND p.kind = t.kind
   AND p.name = t.name AND p.container = t.container
)
SELECT cluster, namespace, kind, name,
       CASE WHEN count(refs) > 0 THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN count(refs) > 0
            THEN string_agg(CASE WHEN refs IS NOT NULL THEN who || ' reads ' || refs END, '; ' ORDER BY container)
            ELSE 'no container takes a Secret through its environment'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
