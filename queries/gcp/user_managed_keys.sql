-- id: gcp.user_managed_keys
-- title: Service account keys made by users are rotated within the limit
-- severity: medium
-- frameworks: CIS GCP 1.4, CIS GCP 1.7
-- rationale: A user-managed key is a private key that exists outside
--   Google, in files, CI secrets and laptops; the older it is, the more
--   places it has been copied to.
-- remediation: Create a new key, move its users to it, delete the old one
--   (gcloud iam service-accounts keys delete KEY --iam-account EMAIL); better,
--   use workload identity and no key at all.
-- param: max_key_age_days = 90
-- alarms: Evaluates every USER_MANAGED key (gcp.iam_service_account_keys),
--   one row each with cluster = the project, namespace NULL, kind
--   ServiceAccountKey, name EMAIL/KEY_ID. Status alarm when it is enabled
--   and became valid more than max_key_age_days (default 90) days before
--   the run. Else ok. Keys Google manages are not evaluated.
SELECT project AS cluster, CAST(NULL AS VARCHAR) AS namespace, 'ServiceAccountKey' AS kind,
       service_account || '/' || key_id AS name,
       CASE WHEN NOT disabled AND to_unixtime(now()) - to_unixtime(valid_after) > CAST({{max_key_age_days}} AS BIGINT) * 86400 THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN disabled THEN 'the key is disabled'
            ELSE 'the key was created ' || CAST((to_unixtime(now()) - to_unixtime(valid_after)) / 86400 AS BIGINT)
                 || ' days ago (limit ' || {{max_key_age_days}} || ')' END AS reason
FROM gcp.iam_service_account_keys
WHERE key_type = 'USER_MANAGED'
ORDER BY cluster, name;
