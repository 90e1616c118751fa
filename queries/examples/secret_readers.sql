-- Which service accounts can read the Secret billing/postgres-credentials?
-- Follows RoleBindings in the secret's namespace and ClusterRoleBindings to
-- the rules of the Roles and ClusterRoles they grant. Edit `target` to ask
-- about another secret.
WITH target AS (
  SELECT 'billing' AS namespace, 'postgres-credentials' AS name
)
SELECT DISTINCT b.cluster,
       b.subject_namespace AS sa_namespace,
       b.subject_name AS service_account,
       b.binding_kind, b.binding_name,
       r.role_kind, r.role_name
FROM role_binding_subjects b
JOIN role_rules r
  ON r.cluster = b.cluster
 AND r.role_kind = b.role_ref_kind
 AND r.role_name = b.role_ref_name
 AND (r.role_kind = 'ClusterRole' OR r.namespace = b.namespace)
CROSS JOIN target t
JOIN secrets s
  ON s.cluster = b.cluster AND s.namespace = t.namespace AND s.name = t.name
WHERE b.subject_kind = 'ServiceAccount'
  AND (b.binding_kind = 'ClusterRoleBinding' OR b.namespace = t.namespace)
  AND (array_has(r.verbs, 'get') OR array_has(r.verbs, '*'))
  AND (array_has(r.resources, 'secrets') OR array_has(r.resources, '*'))
  AND (array_has(r.api_groups, '') OR array_has(r.api_groups, '*'))
  AND (r.resource_names IS NULL OR cardinality(r.resource_names) = 0
       OR array_has(r.resource_names, t.name))
ORDER BY 1, 2, 3, 4, 5;
