-- id: cis.secret_access
-- title: Roles and ClusterRoles do not grant read access to Secrets
-- severity: high
-- frameworks: CIS 5.1.2
-- rationale: get, list or watch on Secrets reveals every credential stored in
--   them (service account tokens, database passwords, TLS keys). list and
--   watch return the values of all Secrets at once, so a role meant for
--   "reading configuration" quietly becomes a credential dump.
-- remediation: Remove secrets (and the wildcard *) from the rule's resources,
--   or narrow it with resourceNames to the Secrets a workload really reads
--   (get only). Prefer mounting Secrets into pods over API access.
-- param: cis_exempt_role_prefixes[] = system:
-- param: cis_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every Role and ClusterRole, one row each (roles and
--   cluster_roles; Roles carry their namespace, ClusterRoles namespace NULL).
--   Status skip when the role is exempt, whatever its rules: its name starts
--   with one of cis_exempt_role_prefixes (default system:), or it carries the
--   label kubernetes.io/bootstrapping=rbac-defaults (Kubernetes' own default
--   roles cluster-admin, admin, edit, view..., reconciled by the API server),
--   or it is a Role in a namespace of cis_exempt_namespaces. Otherwise alarm
--   when at least one of its rules (role_rules) has an apiGroups entry '' or
--   '*' AND a resources entry 'secrets' or '*' AND a verbs entry get, list,
--   watch or '*'; resourceNames do not matter (a rule restricted to named
--   Secrets still grants reading them). Else ok (a role without rules is ok).
--   The reason lists the verbs granted and each matching rule.
WITH all_roles AS (
  SELECT cluster, namespace, 'Role' AS kind, name, labels FROM roles
  UNION ALL
  SELECT cluster, CAST(NULL AS VARCHAR) AS namespace, 'ClusterRole' AS kind, name, labels FROM cluster_roles
),
matching AS (
  SELECT cluster, namespace, role_kind, role_name,
         array_has(verbs, '*') OR array_has(verbs, 'get') AS can_get,
         array_has(verbs, '*') OR array_has(verbs, 'list') AS can_list,
         array_has(verbs, '*') OR array_has(verbs, 'watch') AS can_watch,
         'verbs=[' || array_to_string(verbs, ',') || '] resources=[' || array_to_string(resources, ',')
           || '] apiGroups=[' || array_to_string(array_replace_all(api_groups, '', '""'), ',') || ']'
           || CASE WHEN cardinality(resource_names) > 0
                   THEN ' resourceNames=[' || array_to_string(resource_names, ',') || ']' ELSE '' END AS rule
  FROM role_rules
  WHERE (array_has(api_groups, '') OR array_has(api_groups, '*'))
    AND (array_has(resources, 'secrets') OR array_has(resources, '*'))
    AND (array_has(verbs, 'get') OR array_has(verbs, 'list') OR array_has(verbs, 'watch') OR array_has(verbs, '*'))
),
hits AS (
  SELECT cluster, namespace, role_kind, role_name,
         string_agg(rule, '; ' ORDER BY rule) AS rules,
         concat_ws(',',
           CASE WHEN bool_or(can_get) THEN 'get' END,
           CASE WHEN bool_or(can_list) THEN 'list' END,
           CASE WHEN bool_or(can_watch) THEN 'watch' END) AS granted
  FROM matching
  GROUP BY cluster, namespace, role_kind, role_name
),
judged AS (
  SELECT r.cluster, r.namespace, r.kind, r.name, h.rules, h.granted,
         CASE WHEN starts_with_any(r.name, {{cis_exempt_role_prefixes}}) THEN 'its name is a system name'
              WHEN r.labels['kubernetes.io/bootstrapping'] = 'rbac-defaults'
                THEN 'it is a Kubernetes default role (kubernetes.io/bootstrapping=rbac-defaults)'
              WHEN r.kind = 'Role' AND array_has({{cis_exempt_namespaces}}, r.namespace)
                THEN 'its namespace ' || r.namespace || ' is exempt'
         END AS exempt_because
  FROM all_roles r
  LEFT JOIN hits h
    ON h.cluster = r.cluster AND h.role_kind = r.kind AND h.role_name = r.name
   AND h.namespace IS NOT DISTINCT FROM r.namespace
)
SELECT cluster, namespace, kind, name,
       CASE WHEN exempt_because IS NOT NULL THEN 'skip'
            WHEN rules IS NULL THEN 'ok'
            ELSE 'alarm' END AS status,
       CASE WHEN exempt_because IS NOT NULL THEN kind || ' ' || name || ' is exempt: ' || exempt_because
            WHEN rules IS NULL THEN kind || ' ' || name || ' grants no read access to secrets'
            ELSE kind || ' ' || name || ' grants ' || granted || ' on secrets (' || rules || ')' END AS reason
FROM judged
ORDER BY cluster, namespace, kind, name;
