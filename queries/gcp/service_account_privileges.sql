-- id: gcp.service_account_privileges
-- title: Service accounts hold no basic role (Owner, Editor) on the project
-- severity: high
-- frameworks: CIS GCP 1.5
-- rationale: Owner and Editor grant write access to nearly every service
--   in the project; a service account's key or token is a machine
--   credential that leaks with code, CI logs and compromised workloads.
-- remediation: Replace the binding with predefined or custom roles that
--   grant only what the workload calls (gcloud projects
--   remove-iam-policy-binding PROJECT --member serviceAccount:EMAIL --role ROLE).
-- alarms: Evaluates every service account of the project
--   (gcp.iam_service_accounts), one row each with cluster = the project,
--   namespace NULL, kind ServiceAccount, name its email. Status alarm when
--   the project's IAM policy (gcp.iam_policy_bindings) binds it, with or
--   without a condition, to roles/owner or roles/editor; the reason names
--   the roles. Else ok.
WITH basic AS (
  SELECT project, member_email, string_agg(DISTINCT role, ', ') AS roles
  FROM gcp.iam_policy_bindings
  WHERE member_type = 'serviceAccount' AND role IN ('roles/owner', 'roles/editor')
  GROUP BY project, member_email
)
SELECT s.project AS cluster, CAST(NULL AS VARCHAR) AS namespace, 'ServiceAccount' AS kind, s.email AS name,
       CASE WHEN b.roles IS NULL THEN 'ok' ELSE 'alarm' END AS status,
       CASE WHEN b.roles IS NULL THEN 'holds no basic role on the project'
            ELSE 'holds ' || b.roles || ' on the project' END AS reason
FROM gcp.iam_service_accounts s
LEFT JOIN basic b ON b.project = s.project AND b.member_email = s.email
ORDER BY cluster, name;
