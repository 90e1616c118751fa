-- id: cis.cluster_admin_bindings
-- title: The cluster-admin role is only bound to system subjects
-- severity: high
-- frameworks: CIS 5.1.1
-- rationale: cluster-admin grants every verb on every resource in every
--   namespace. Each User, Group or ServiceAccount bound to it can read all
--   Secrets, create privileged pods and rewrite RBAC; a leaked credential of
--   any of them is a full cluster compromise.
-- remediation: Bind a narrower (Cluster)Role instead, or remove the subject:
--   kubectl delete clusterrolebinding NAME, then grant what is really needed.
--   Keep cluster-admin for break-glass groups such as system:masters.
-- param: admin_cluster_roles[] = cluster-admin
-- param: cis_exempt_subject_prefixes[] = system:
-- alarms: Evaluates every ClusterRoleBinding and every RoleBinding whose
--   roleRef is a ClusterRole named in admin_cluster_roles (default
--   cluster-admin), one row each (RoleBindings carry their namespace,
--   ClusterRoleBindings namespace NULL). Its subjects come from
--   role_binding_subjects. A subject is exempt when its name starts with one
--   of cis_exempt_subject_prefixes (default system:, which exempts
--   system:masters, system:kube-controller-manager and the like;
--   ServiceAccount subjects are never exempt by default, kube-system ones
--   included, because their subject name has no system: prefix). Status alarm when at least one subject is not exempt
--   (the reason lists them as Kind name or Kind namespace/name for service
--   accounts, sorted); ok when every subject is exempt or the binding has no
--   subjects.
WITH bindings AS (
  SELECT cluster, CAST(NULL AS VARCHAR) AS namespace, 'ClusterRoleBinding' AS kind, name, role_ref_name
  FROM cluster_role_bindings
  WHERE role_ref_kind = 'ClusterRole' AND array_has({{admin_cluster_roles}}, role_ref_name)
  UNION ALL
  SELECT cluster, namespace, 'RoleBinding' AS kind, name, role_ref_name
  FROM role_bindings
  WHERE role_ref_kind = 'ClusterRole' AND array_has({{admin_cluster_roles}}, role_ref_name)
),
offenders AS (
  SELECT cluster, namespace, binding_kind, binding_name,
         string_agg(
           CASE WHEN subject_kind = 'ServiceAccount'
                THEN subject_kind || ' ' || coalesce(subject_namespace, '?') || '/' || subject_name
                ELSE subject_kind || ' ' || subject_name END,
           ', ' ORDER BY subject_kind, subject_namespace, subject_name) AS subjects
  FROM role_binding_subjects
  WHERE role_ref_kind = 'ClusterRole'
    AND array_has({{admin_cluster_roles}}, role_ref_name)
    AND NOT coalesce(starts_with_any(subject_name, {{cis_exempt_subject_prefixes}}), false)
  GROUP BY cluster, namespace, binding_kind, binding_name
)
SELECT b.cluster, b.namespace, b.kind, b.name,
       CASE WHEN o.subjects IS NULL THEN 'ok' ELSE 'alarm' END AS status,
       CASE WHEN o.subjects IS NULL
            THEN b.kind || ' ' || b.name || ' binds ' || b.role_ref_name || ' only to system subjects'
            ELSE b.kind || ' ' || b.name || ' binds ' || b.role_ref_name || ' to ' || o.subjects END AS reason,
       b.role_ref_name AS role
FROM bindings b
LEFT JOIN offenders o
  ON o.cluster = b.cluster AND o.binding_kind = b.kind AND o.binding_name = b.name
 AND o.namespace IS NOT DISTINCT FROM b.namespace
ORDER BY b.cluster, b.namespace, b.kind, b.name;
