-- id: cis.default_service_accounts
-- title: Default service accounts are not actively used
-- severity: medium
-- frameworks: CIS 5.1.5
-- rationale: Every pod that names no service account runs as its namespace's
--   default one. When that account mounts a token automatically and is bound
--   to roles, every such pod - debug pods and third-party images included -
--   silently holds those API rights.
-- remediation: Set automountServiceAccountToken false on each default
--   service account (kubectl patch serviceaccount default -n NS -p
--   '{"automountServiceAccountToken": false}'), remove it from RoleBindings
--   and ClusterRoleBindings, and give workloads that need the API their own
--   service account.
-- param: cis_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- live: judges the default ServiceAccount, which the cluster creates in every namespace
-- alarms: Evaluates every ServiceAccount named default (service_accounts),
--   one row each. Status skip when its namespace is in cis_exempt_namespaces.
--   Otherwise alarm when (a) automount_token is not false (true, or NULL
--   meaning unset, which mounts the token), or (b) it is a subject of any
--   binding: a role_binding_subjects row with subject_kind ServiceAccount,
--   subject_name default and subject_namespace equal to the account's
--   namespace, from a RoleBinding in any namespace or a ClusterRoleBinding.
--   Group subjects (system:serviceaccounts...) are not followed. The reason
--   names each problem and lists the bindings as "RoleBinding NS/NAME ->
--   Role R" or "ClusterRoleBinding NAME -> ClusterRole R", sorted by kind,
--   namespace, name. Else ok.
WITH bound AS (
  SELECT cluster, subject_namespace AS namespace,
         string_agg(
           binding_kind || ' ' || CASE WHEN binding_kind = 'RoleBinding' THEN namespace || '/' ELSE '' END
             || binding_name || ' -> ' || role_ref_kind || ' ' || role_ref_name,
           ', ' ORDER BY binding_kind, namespace, binding_name) AS bindings
  FROM role_binding_subjects
  WHERE subject_kind = 'ServiceAccount' AND subject_name = 'default'
  GROUP BY cluster, subject_namespace
)
SELECT sa.cluster, sa.namespace, 'ServiceAccount' AS kind, sa.name,
       CASE WHEN array_has({{cis_exempt_namespaces}}, sa.namespace) THEN 'skip'
            WHEN sa.automount_token IS NOT FALSE OR b.bindings IS NOT NULL THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN array_has({{cis_exempt_namespaces}}, sa.namespace)
              THEN 'namespace ' || sa.namespace || ' is exempt'
            WHEN sa.automount_token IS NOT FALSE OR b.bindings IS NOT NULL
              THEN concat_ws('; ',
                     CASE WHEN sa.automount_token IS NULL THEN 'automountServiceAccountToken is unset (tokens are mounted)'
                          WHEN sa.automount_token THEN 'automountServiceAccountToken is true' END,
                     CASE WHEN b.bindings IS NOT NULL THEN 'bound by ' || b.bindings END)
            ELSE 'default service account mounts no token and is not bound to any role' END AS reason
FROM service_accounts sa
LEFT JOIN bound b ON b.cluster = sa.cluster AND b.namespace = sa.namespace
WHERE sa.name = 'default'
ORDER BY sa.cluster, sa.namespace, kind, sa.name;
