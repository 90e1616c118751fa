-- id: azure.service_principal_privileges
-- title: Service principals hold no Owner or Contributor role on a whole subscription
-- severity: high
-- frameworks: MCSB PA-7
-- rationale: Owner and Contributor on a subscription grant write access to
--   every resource in it; a service principal's secret or certificate is a
--   machine credential that leaks with code, CI logs and compromised
--   workloads.
-- remediation: Replace the assignment with built-in or custom roles scoped
--   to the resource groups the workload manages (az role assignment delete
--   --assignee ID --role ROLE --scope /subscriptions/SUB).
-- alarms: Evaluates every service principal with a role assignment in the
--   subscription (azure.role_assignments, principal_type ServicePrincipal),
--   one row each with cluster = the subscription id, namespace NULL, kind
--   ServicePrincipal, name its principal id. Status alarm when it holds
--   Owner or Contributor at subscription scope (subscription_scope); the
--   reason names the roles. Else ok.
WITH principals AS (
  SELECT DISTINCT subscription_id, principal_id
  FROM azure.role_assignments
  WHERE principal_type = 'ServicePrincipal'
),
privileged AS (
  SELECT subscription_id, principal_id, string_agg(DISTINCT role_name, ', ') AS roles
  FROM azure.role_assignments
  WHERE principal_type = 'ServicePrincipal' AND subscription_scope
    AND role_name IN ('Owner', 'Contributor')
  GROUP BY subscription_id, principal_id
)
SELECT p.subscription_id AS cluster, CAST(NULL AS VARCHAR) AS namespace, 'ServicePrincipal' AS kind,
       p.principal_id AS name,
       CASE WHEN x.roles IS NULL THEN 'ok' ELSE 'alarm' END AS status,
       CASE WHEN x.roles IS NULL THEN 'holds neither Owner nor Contributor on the subscription'
            ELSE 'holds ' || x.roles || ' on the whole subscription' END AS reason
FROM principals p
LEFT JOIN privileged x ON x.subscription_id = p.subscription_id AND x.principal_id = p.principal_id
ORDER BY cluster, name;
