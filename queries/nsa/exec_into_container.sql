-- id: nsa.exec_into_container
-- title: Roles that allow exec into containers are not bound
-- severity: medium
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Authentication and
--   authorization: role-based access control), kubescape C-0002
-- rationale: pods/exec gives a shell in any container the role reaches, with that
--   container's service account token, mounted Secrets and network position; it
--   bypasses every admission control on the pod.
-- remediation: Remove pods/exec from roles that do not need it, bind exec-capable roles
--   only to a small break-glass group, and prefer ephemeral debug containers
--   under audit.
-- alarms: Evaluated: every ClusterRole (namespace null) and every Role. A role allows
--   exec when one of its role_rules rows has verbs containing 'create', 'get'
--   (exec over WebSocket is authorized as get before Kubernetes 1.35,
--   kubernetes#78741) or '*', resources containing 'pods/exec', 'pods/*' or '*',
--   and api_groups containing '' or '*' (resource_names are ignored). A role is
--   bound when a ClusterRoleBinding or RoleBinding (same cluster) has roleRef kind
--   and name equal to it, a Role binding only from its own namespace. Alarm when
--   the role allows exec and is bound; ok otherwise (the reason says when an exec
--   role is unbound).
WITH exec_roles AS (
  SELECT DISTINCT cluster, role_kind, coalesce(namespace, '') AS role_namespace, role_name
  FROM role_rules
  WHERE (array_has(verbs, 'create') OR array_has(verbs, 'get') OR array_has(verbs, '*'))
    AND (array_has(resources, 'pods/exec') OR array_has(resources, 'pods/*') OR array_has(resources, '*'))
    AND (array_has(api_groups, '') OR array_has(api_groups, '*'))
), role_list AS (
  SELECT cluster, namespace, 'ClusterRole' AS kind, name FROM cluster_roles
  UNION ALL
  SELECT cluster, namespace, 'Role' AS kind, name FROM roles
), binding_list AS (
  SELECT cluster, namespace, 'ClusterRoleBinding' AS binding_kind, name, role_ref_kind, role_ref_name FROM cluster_role_bindings
  UNION ALL
  SELECT cluster, namespace, 'RoleBinding' AS binding_kind, name, role_ref_kind, role_ref_name FROM role_bindings
), bound AS (
  SELECT r.cluster, r.kind, coalesce(r.namespace, '') AS role_namespace, r.name,
         string_agg(b.binding_kind || ' ' || coalesce(b.namespace || '/', '') || b.name, ', '
                    ORDER BY b.binding_kind, b.namespace, b.name) AS bindings
  FROM role_list r
  JOIN binding_list b
    ON b.cluster = r.cluster
   AND b.role_ref_kind = r.kind
   AND b.role_ref_name = r.name
   AND (r.kind = 'ClusterRole' OR b.namespace = r.namespace)
  GROUP BY r.cluster, r.kind, coalesce(r.namespace, ''), r.name
)
SELECT r.cluster, r.namespace, r.kind, r.name,
       CASE WHEN e.role_name IS NOT NULL AND b.bindings IS NOT NULL THEN 'alarm' ELSE 'ok' END AS status,
       CASE
         WHEN e.role_name IS NOT NULL AND b.bindings IS NOT NULL
           THEN 'allows exec into pods (pods/exec) and is bound by ' || b.bindings
         WHEN e.role_name IS NOT NULL THEN 'allows exec into pods but no binding uses it'
         ELSE 'does not allow exec into pods'
       END AS reason
FROM role_list r
LEFT JOIN exec_roles e
  ON e.cluster = r.cluster AND e.role_kind = r.kind
 AND e.role_namespace = coalesce(r.namespace, '') AND e.role_name = r.name
LEFT JOIN bound b
  ON b.cluster = r.cluster AND b.kind = r.kind
 AND b.role_namespace = coalesce(r.namespace, '') AND b.name = r.name
ORDER BY r.cluster, r.namespace, r.kind, r.name;
