-- id: azure.custom_subscription_admin_roles
-- title: No custom role grants every action on a subscription
-- severity: medium
-- frameworks: CIS Azure 1.23
-- rationale: A custom role allowing every action (*) is an Owner that
--   reviews of built-in role assignments miss; Microsoft's own roles keep
--   that power in Owner, where audits look for it.
-- remediation: Narrow the role's actions to what its holders need, or
--   delete it and assign a built-in role (az role definition update /
--   az role definition delete --name ROLE).
-- alarms: Evaluates every custom role definition (azure.role_definitions,
--   role_type CustomRole), one row each with cluster = the subscription
--   id, namespace NULL, kind RoleDefinition, name its role name. Status
--   alarm when its actions include * and it is assignable at the root (/)
--   or at a whole subscription. Else ok.
SELECT subscription_id AS cluster, CAST(NULL AS VARCHAR) AS namespace, 'RoleDefinition' AS kind,
       role_name AS name,
       CASE WHEN array_has(actions, '*')
                 AND (array_has(assignable_scopes, '/')
                      OR array_has(assignable_scopes, '/subscriptions/' || subscription_id))
            THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN array_has(actions, '*')
                 AND (array_has(assignable_scopes, '/')
                      OR array_has(assignable_scopes, '/subscriptions/' || subscription_id))
            THEN 'allows every action (*) on the whole subscription'
            ELSE 'allows ' || CAST(cardinality(actions) AS VARCHAR) || ' listed actions' END AS reason
FROM azure.role_definitions
WHERE role_type = 'CustomRole'
ORDER BY cluster, name;
