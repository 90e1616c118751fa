-- id: cis.bind_escalate_impersonate
-- title: Roles and ClusterRoles do not grant bind, escalate or impersonate
-- severity: high
-- frameworks: CIS 5.1.8
-- rationale: bind lets a subject grant roles it does not hold, escalate lets
--   it edit roles beyond its own rights, and impersonate lets it act as any
--   user, group or service account. Each one turns limited RBAC access into
--   cluster-admin.
-- remediation: Remove bind and escalate on roles/clusterroles and impersonate
--   on users, groups, serviceaccounts (and any * that implies them) from the
--   rule; keep them for the few controllers that manage RBAC.
-- param: cis_exempt_role_prefixes[] = system:
-- param: cis_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every Role and ClusterRole, one row each (Roles carry
--   their namespace, ClusterRoles namespace NULL). Status skip when the role
--   is exempt, whatever its rules: its name starts with one of
--   cis_exempt_role_prefixes (default system:), or it carries the label
--   kubernetes.io/bootstrapping=rbac-defaults, or it is a Role in a namespace
--   of cis_exempt_namespaces. Otherwise alarm when at least one of its rules
--   (role_rules) grants (a) bind or escalate - verbs has bind, escalate or *,
--   resources has roles, clusterroles or *, apiGroups has
--   rbac.authorization.k8s.io or * - or (b) impersonate - verbs has
--   impersonate or *, resources has users, groups, serviceaccounts, uids, *
--   or an entry starting with userextras, apiGroups has '', authentication.k8s.io
--   or *. resourceNames do not matter. The reason names the rights (bind,
--   escalate, impersonate) and lists each matching rule. Else ok.
WITH all_roles AS (
  SELECT cluster, namespace, 'Role' AS kind, name, labels FROM roles
  UNION ALL
  SELECT cluster, CAST(NULL AS VARCHAR) AS namespace, 'ClusterRole' AS kind, name, labels FROM cluster_roles
),
flagged AS (
  SELECT cluster, namespace, role_kind, role_name,
         (array_has(verbs, 'bind') OR array_has(verbs, '*'))
           AND (array_has(resources, 'roles') OR array_has(resources, 'clusterroles') OR array_has(resources, '*'))
           AND (array_has(api_groups, 'rbac.authorization.k8s.io') OR array_has(api_groups, '*')) AS can_bind,
         (array_has(verbs, 'escalate') OR array_has(verbs, '*'))
           AND (array_has(resources, 'roles') OR array_has(resources, 'clusterroles') OR array_has(resources, '*'))
           AND (array_has(api_groups, 'rbac.authorization.k8s.io') OR array_has(api_groups, '*')) AS can_escalate,
         (array_has(verbs, 'impersonate') OR array_has(verbs, '*'))
           AND (array_has(resources, 'users') OR array_has(resources, 'groups')
                OR array_has(resources, 'serviceaccounts') OR array_has(resources, 'uids')
                OR array_has(resources, '*')
                OR strpos(' ' || array_to_string(resources, ' '), ' userextras') > 0)
           AND (array_has(api_groups, '') OR array_has(api_groups, 'authentication.k8s.io')
                OR array_has(api_groups, '*')) AS can_impersonate,
         CASE WHEN cardinality(non_resource_urls) > 0
              THEN 'verbs=[' || array_to_string(verbs, ',') || '] nonResourceURLs=['
                   || array_to_string(non_resource_urls, ',') || ']'
              ELSE 'verbs=[' || array_to_string(verbs, ',') || '] resources=[' || array_to_string(resources, ',')
                   || '] apiGroups=[' || array_to_string(array_replace_all(api_groups, '', '""'), ',') || ']'
                   || CASE WHEN cardinality(resource_names) > 0
                           THEN ' resourceNames=[' || array_to_string(resource_names, ',') || ']' ELSE '' END
         END AS rule
  FROM role_rules
),
hits AS (
  SELECT cluster, namespace, role_kind, role_name,
         string_agg(rule, '; ' ORDER BY rule) AS rules,
         concat_ws(', ',
           CASE WHEN bool_or(can_bind) THEN 'bind' END,
           CASE WHEN bool_or(can_escalate) THEN 'escalate' END,
           CASE WHEN bool_or(can_impersonate) THEN 'impersonate' END) AS rights
  FROM flagged
  WHERE coalesce(can_bind, false) OR coalesce(can_escalate, false) OR coalesce(can_impersonate, false)
  GROUP BY cluster, namespace, role_kind, role_name
),
judged AS (
  SELECT r.cluster, r.namespace, r.kind, r.name, h.rules, h.rights,
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
            WHEN rules IS NULL THEN kind || ' ' || name || ' grants none of bind, escalate, impersonate'
            ELSE kind || ' ' || name || ' grants ' || rights || ' (' || rules || ')' END AS reason
FROM judged
ORDER BY cluster, namespace, kind, name;
