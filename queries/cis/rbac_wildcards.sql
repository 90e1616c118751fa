-- id: cis.rbac_wildcards
-- title: Roles and ClusterRoles do not use wildcards
-- severity: medium
-- frameworks: CIS 5.1.3
-- rationale: A * in verbs, resources or apiGroups grants everything that
--   exists today and everything added later (new CRDs, new subresources such
--   as pods/exec or serviceaccounts/token), so the role's reach grows without
--   anyone reviewing it.
-- remediation: Replace each * with the explicit verbs, resources and API
--   groups the subject needs; kubectl auth can-i --list --as=SUBJECT shows
--   what it uses today.
-- param: cis_exempt_role_prefixes[] = system:
-- param: cis_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every Role and ClusterRole, one row each (Roles carry
--   their namespace, ClusterRoles namespace NULL). Status skip when the role
--   is exempt, whatever its rules: its name starts with one of
--   cis_exempt_role_prefixes (default system:), or it carries the label
--   kubernetes.io/bootstrapping=rbac-defaults (Kubernetes' default roles,
--   reconciled by the API server), or it is a Role in a namespace of
--   cis_exempt_namespaces. Otherwise alarm when at least one of its rules
--   (role_rules) has an element containing the character * in verbs,
--   resources, apiGroups or nonResourceURLs (so * itself, */scale and
--   /api/* all count); the reason names the fields and lists each such rule.
--   Else ok (a role without rules is ok).
WITH all_roles AS (
  SELECT cluster, namespace, 'Role' AS kind, name, labels FROM roles
  UNION ALL
  SELECT cluster, CAST(NULL AS VARCHAR) AS namespace, 'ClusterRole' AS kind, name, labels FROM cluster_roles
),
flagged AS (
  SELECT cluster, namespace, role_kind, role_name,
         coalesce(strpos(array_to_string(verbs, ' '), '*') > 0, false) AS w_verbs,
         coalesce(strpos(array_to_string(resources, ' '), '*') > 0, false) AS w_resources,
         coalesce(strpos(array_to_string(api_groups, ' '), '*') > 0, false) AS w_groups,
         coalesce(strpos(array_to_string(non_resource_urls, ' '), '*') > 0, false) AS w_urls,
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
           CASE WHEN bool_or(w_verbs) THEN 'verbs' END,
           CASE WHEN bool_or(w_resources) THEN 'resources' END,
           CASE WHEN bool_or(w_groups) THEN 'apiGroups' END,
           CASE WHEN bool_or(w_urls) THEN 'nonResourceURLs' END) AS fields
  FROM flagged
  WHERE w_verbs OR w_resources OR w_groups OR w_urls
  GROUP BY cluster, namespace, role_kind, role_name
),
judged AS (
  SELECT r.cluster, r.namespace, r.kind, r.name, h.rules, h.fields,
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
            WHEN rules IS NULL THEN kind || ' ' || name || ' uses no wildcards'
            ELSE kind || ' ' || name || ' uses * in ' || fields || ' (' || rules || ')' END AS reason
FROM judged
ORDER BY cluster, namespace, kind, name;
