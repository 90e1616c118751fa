-- id: nsa.cluster_admin_bindings
-- title: Only system:masters holds cluster-admin or an equivalent wildcard role
-- severity: high
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Authentication and
--   authorization: role-based access control), CIS Kubernetes Benchmark 5.1
--   (cluster-admin role), kubescape C-0035
-- rationale: cluster-admin, or any role granting every verb on every resource in every
--   API group, is full control of the cluster: its holders can read every
--   Secret, run privileged pods and rewrite RBAC. Each such binding is a
--   credential whose theft is a cluster compromise.
-- remediation: Bind narrower roles that grant only the verbs and resources needed; keep
--   cluster-admin for break-glass access through the system:masters group.
-- alarms: Evaluated: every ClusterRoleBinding (namespace null) and every RoleBinding. A
--   binding is an admin grant when its roleRef is the ClusterRole cluster-admin,
--   or a ClusterRole (or, for a RoleBinding, a Role of the same namespace) that
--   has a role_rules row whose verbs, resources and api_groups each contain '*'.
--   Alarm when the binding is an admin grant and has at least one subject
--   (role_binding_subjects) other than Group system:masters. An admin grant bound
--   only to system:masters, or to no subject, and every other binding, is ok.
WITH admin_roles AS (
  SELECT DISTINCT cluster, role_kind, coalesce(namespace, '') AS role_namespace, role_name
  FROM role_rules
  WHERE array_has(verbs, '*') AND array_has(resources, '*') AND array_has(api_groups, '*')
), bindings AS (
  SELECT cluster, namespace, 'ClusterRoleBinding' AS kind, name, role_ref_kind, role_ref_name
  FROM cluster_role_bindings
  UNION ALL
  SELECT cluster, namespace, 'RoleBinding' AS kind, name, role_ref_kind, role_ref_name
  FROM role_bindings
), subjects AS (
  SELECT cluster, binding_kind, coalesce(namespace, '') AS binding_namespace, binding_name,
         string_agg(
           CASE WHEN subject_kind = 'Group' AND subject_name = 'system:masters' THEN NULL
                WHEN subject_kind = 'ServiceAccount'
                  THEN 'ServiceAccount ' || coalesce(subject_namespace, namespace, '') || '/' || subject_name
                ELSE subject_kind || ' ' || subject_name
           END,
           ', ' ORDER BY subject_kind, subject_namespace, subject_name) AS others
  FROM role_binding_subjects
  GROUP BY cluster, binding_kind, coalesce(namespace, ''), binding_name
), graded AS (
  SELECT b.cluster, b.namespace, b.kind, b.name, b.role_ref_kind, b.role_ref_name, s.others,
         (b.role_ref_kind = 'ClusterRole' AND b.role_ref_name = 'cluster-admin') OR a.role_name IS NOT NULL AS admin
  FROM bindings b
  LEFT JOIN admin_roles a
    ON a.cluster = b.cluster
   AND a.role_kind = b.role_ref_kind
   AND a.role_name = b.role_ref_name
   AND (b.role_ref_kind = 'ClusterRole' OR a.role_namespace = coalesce(b.namespace, ''))
  LEFT JOIN subjects s
    ON s.cluster = b.cluster AND s.binding_kind = b.kind
   AND s.binding_namespace = coalesce(b.namespace, '') AND s.binding_name = b.name
)
SELECT cluster, namespace, kind, name,
       CASE WHEN admin AND others IS NOT NULL THEN 'alarm' ELSE 'ok' END AS status,
       CASE
         WHEN admin AND others IS NOT NULL
           THEN 'grants ' || role_ref_kind || ' ' || role_ref_name
                || CASE WHEN role_ref_name = 'cluster-admin' THEN '' ELSE ' (every verb on every resource)' END
                || ' to ' || others
         WHEN admin THEN 'grants ' || role_ref_kind || ' ' || role_ref_name || ' only to Group system:masters'
         ELSE 'grants ' || coalesce(role_ref_kind, '?') || ' ' || coalesce(role_ref_name, '?') || ', not an admin role'
       END AS reason,
       role_ref_name AS role
FROM graded
ORDER BY cluster, namespace, kind, name;
