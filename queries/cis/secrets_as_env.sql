-- id: cis.secrets_as_env
-- title: Secrets are mounted as files, not passed as environment variables
-- severity: medium
-- frameworks: CIS 5.4.1
-- rationale: Environment variables leak: applications print them in crash
--   dumps and debug pages, child processes inherit them, and they show in
--   kubectl describe, /proc/PID/environ and container inspect output. A
--   Secret mounted as a file is readable only inside the container and is
--   updated when the Secret changes.
-- remediation: Mount the Secret as a volume (secret or projected) and read
--   the value from the file, instead of env[].valueFrom.secretKeyRef or
--   envFrom[].secretRef.
-- param: cis_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every workload of template_containers (top-level
--   Deployments, StatefulSets, DaemonSets, Jobs, CronJobs and pods no such
--   controller owns), one row per (cluster, namespace, kind, name). Status
--   skip when the namespace is in cis_exempt_namespaces. Otherwise alarm when
--   any of its containers (init, regular or ephemeral) has an env entry with
--   valueFrom.secretKeyRef.name set, or an envFrom entry with secretRef.name
--   set (env and env_from JSON arrays); the reason
--   lists each as "container C: VAR from secret S" or "container C: all keys
--   of secret S (envFrom)", sorted. Else ok.
WITH env_items AS (
  SELECT cluster, namespace, kind, name, container,
         json_get_json(env, i) AS item
  FROM (SELECT cluster, namespace, kind, name, container, env,
               unnest(range(0, json_length(env))) AS i
        FROM template_containers
        WHERE json_length(env) > 0) e
),
env_from_items AS (
  SELECT cluster, namespace, kind, name, container,
         json_get_json(env_from, i) AS item
  FROM (SELECT cluster, namespace, kind, name, container, env_from,
               unnest(range(0, json_length(env_from))) AS i
        FROM template_containers
        WHERE json_length(env_from) > 0) e
),
uses AS (
  SELECT cluster, namespace, kind, name,
         'container ' || container || ': ' || json_get_str(item, 'name') || ' from secret '
           || json_get_str(item, 'valueFrom', 'secretKeyRef', 'name') AS what
  FROM env_items
  WHERE json_get_str(item, 'valueFrom', 'secretKeyRef', 'name') IS NOT NULL
  UNION ALL
  SELECT cluster, namespace, kind, name,
         'container ' || container || ': all keys of secret '
           || json_get_str(item, 'secretRef', 'name') || ' (envFrom)' AS what
  FROM env_from_items
  WHERE json_get_str(item, 'secretRef', 'name') IS NOT NULL
),
per_workload AS (
  SELECT cluster, namespace, kind, name, string_agg(what, '; ' ORDER BY what) AS found
  FROM uses
  GROUP BY cluster, namespace, kind, name
),
workloads AS (
  SELECT DISTINCT cluster, namespace, kind, name FROM template_containers
)
SELECT w.cluster, w.namespace, w.kind, w.name,
       CASE WHEN array_has({{cis_exempt_namespaces}}, w.namespace) THEN 'skip'
            WHEN u.found IS NOT NULL THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN array_has({{cis_exempt_namespaces}}, w.namespace) THEN 'namespace ' || w.namespace || ' is exempt'
            WHEN u.found IS NOT NULL THEN 'secrets passed as environment variables: ' || u.found
            ELSE 'no secret is passed as an environment variable' END AS reason
FROM workloads w
LEFT JOIN per_workload u
  ON u.cluster = w.cluster AND u.namespace = w.namespace AND u.kind = w.kind AND u.name = w.name
ORDER BY w.cluster, w.namespace, w.kind, w.name;
