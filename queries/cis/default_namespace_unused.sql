-- id: cis.default_namespace_unused
-- title: The default namespace is not used
-- severity: low
-- frameworks: CIS 5.7.4
-- rationale: Objects created without a namespace land in default, which has
--   no owner, no quota and usually no network policy. Workloads there are
--   easy to forget and share one flat space with every careless kubectl
--   apply.
-- remediation: Move the objects to a namespace of their own (with an owner,
--   quota and network policies) and delete them from default; a
--   ResourceQuota of zero pods in default stops new ones.
-- live: judges what runs in the default namespace, which is the cluster's state (a file that names no namespace lands there only when applied)
-- alarms: Evaluates the Namespace named default of every cluster, one row
--   each with namespace NULL, kind Namespace, name default. Status alarm
--   when default holds any of these objects: a workload of
--   template_containers (Deployment, StatefulSet, DaemonSet, Job, CronJob or
--   a pod no such controller owns), a Service other than kubernetes, an
--   Ingress, a ConfigMap other than kube-root-ca.crt, a ServiceAccount other
--   than default, a PersistentVolumeClaim, a Role or a
--   RoleBinding. Secrets are not read (a report needs no access to Secrets:
--   see deploy/kq-report-cronjob.yaml), and Events, Endpoints, EndpointSlices, ReplicaSets and pods of
--   controllers are not counted (they follow the objects above), nor are
--   NetworkPolicies, ResourceQuotas and LimitRanges (guardrails that keep
--   default unused). The reason counts the objects and lists the first ten
--   as Kind name, sorted by kind then name ("and N more" after ten). Else ok.
WITH used AS (
  SELECT DISTINCT cluster, kind, name FROM template_containers WHERE namespace = 'default'
  UNION ALL
  SELECT cluster, 'Service', name FROM services WHERE namespace = 'default' AND name <> 'kubernetes'
  UNION ALL
  SELECT cluster, 'Ingress', name FROM ingresses WHERE namespace = 'default'
  UNION ALL
  SELECT cluster, 'ConfigMap', name FROM config_maps WHERE namespace = 'default' AND name <> 'kube-root-ca.crt'
  UNION ALL
  SELECT cluster, 'ServiceAccount', name FROM service_accounts WHERE namespace = 'default' AND name <> 'default'
  UNION ALL
  SELECT cluster, 'PersistentVolumeClaim', name FROM persistent_volume_claims WHERE namespace = 'default'
  UNION ALL
  SELECT cluster, 'Role', name FROM roles WHERE namespace = 'default'
  UNION ALL
  SELECT cluster, 'RoleBinding', name FROM role_bindings WHERE namespace = 'default'
),
ranked AS (
  SELECT cluster, kind, name, row_number() OVER (PARTITION BY cluster ORDER BY kind, name) AS n
  FROM used
),
per_cluster AS (
  SELECT cluster, count(*) AS objects,
         string_agg(CASE WHEN n <= 10 THEN kind || ' ' || name END, ', ' ORDER BY kind, name) AS names
  FROM ranked
  GROUP BY cluster
)
SELECT n.cluster, CAST(NULL AS VARCHAR) AS namespace, 'Namespace' AS kind, n.name,
       CASE WHEN u.objects IS NULL THEN 'ok' ELSE 'alarm' END AS status,
       CASE WHEN u.objects IS NULL THEN 'the default namespace holds only the objects Kubernetes creates'
            ELSE 'the default namespace holds ' || u.objects
                 || CASE WHEN u.objects = 1 THEN ' object: ' ELSE ' objects: ' END || u.names
                 || CASE WHEN u.objects > 10 THEN ' and ' || (u.objects - 10) || ' more' ELSE '' END END AS reason
FROM namespaces n
LEFT JOIN per_cluster u ON u.cluster = n.cluster
WHERE n.name = 'default'
ORDER BY n.cluster, namespace, kind, n.name;
