-- id: cis.pod_create_access
-- title: Roles and ClusterRoles do not grant creating pods
-- severity: high
-- frameworks: CIS 5.1.4
-- rationale: Whoever can create a pod can run any image with any service
--   account of the namespace, mount its Secrets and, unless admission stops
--   it, run privileged on a node: create on pods is a privilege-escalation
--   path to everything the namespace (or the node) can reach.
-- remediation: Remove create (and *) on pods from the rule; let people and CI
--   change Deployments, Jobs and other controllers, whose pods admission
--   policies can check, rather than pods directly.
-- param: cis_exempt_role_prefixes[] = system:
-- param: cis_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every Role and ClusterRole, one row each (Roles carry
--   their namespace, ClusterRoles namespace NULL). Status skip when the role
--   is exempt, whatever its rules: its name starts with one of
--   cis_exempt_role_prefixes (default system:), or it carries the label
--   kubernetes.io/bootstrapping=rbac-defaults (Kubernetes' default roles
--   admin, edit..., reconciled by the API server), or it is a Role in a
--   namespace of cis_exempt_namespaces. Otherwise alarm when at least one of
--   its rules (role_rules) has an apiGroups entry '' or '*' AND a resources
--   entry 'pods' or '*' AND a verbs entry 'create' or '*' (subresources such
--   as pods/exec or pods/eviction do not count; resourceNames do not matter);
--   the reason lists each matching rule. Else ok (a role without rules is ok).
WITH all_roles AS (
  SELECT cluster, namespace, 'Role' AS kind, name, labels FROM roles
  UNION ALL
  SELECT cluster, CAST(NULL AS VARCHAR) AS namespace, 'ClusterRole' AS kind, name, labels FROM cluster_roles
),
flagged AS (
  SELECT cluster, namespace, role_kind, role_name,
         (array_has(api_groups, '') OR array_has(api_groups, '*'))
           AND (array_has(resources, 'pods') OR array_has(resources, '*'))
           AND (array_has(verbs, 'create') OR array_has(verbs, '*')) AS creates_pods,
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
         string_agg(rule, '; ' ORDER BY rule) AS rules
  FROM flagged
  WHERE coalesce(creates_pods, false)
  GROUP BY cluster, namespace, role_kind, role_name
),
judged AS (
  SELECT r.cluster, r.namespace, r.kind, r.name, h.rules,
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
            WHEN rules IS NULL THEN kind || ' ' || name || ' grants no create on pods'
            ELSE kind || ' ' || name || ' grants create on pods (' || rules || ')' END AS reason
FROM judged
ORDER BY cluster, namespace, kind, name;
