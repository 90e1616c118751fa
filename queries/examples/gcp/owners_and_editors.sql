-- Identities holding Owner or Editor on a project, unconditionally: the
-- basic roles CIS GCP 1.5/1.6 keep away from service accounts and
-- everyday users.
SELECT project, role, member, member_type
FROM gcp.iam_policy_bindings
WHERE role IN ('roles/owner', 'roles/editor')
  AND condition_title IS NULL
ORDER BY project, role, member;
