-- Principals holding Owner or Contributor on a whole subscription.
SELECT subscription_id, role_name, principal_type, principal_id
FROM azure.role_assignments
WHERE role_name IN ('Owner', 'Contributor') AND subscription_scope
ORDER BY subscription_id, role_name, principal_type, principal_id;
