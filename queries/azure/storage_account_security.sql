-- id: azure.storage_account_security
-- title: Storage accounts require HTTPS and TLS 1.2 and allow no anonymous blob access
-- severity: high
-- frameworks: CIS Azure 3.1, CIS Azure 3.7, CIS Azure 3.15
-- rationale: Plain HTTP and TLS below 1.2 expose keys and data on the
--   wire; an account allowing public blob access lets any container be
--   made readable by anyone with its URL, with one setting.
-- remediation: az storage account update -g RG -n NAME --https-only true
--   --min-tls-version TLS1_2 --allow-blob-public-access false.
-- alarms: Evaluates every storage account (azure.storage_accounts), one
--   row each with cluster = the subscription id, namespace = the resource
--   group, kind StorageAccount. Status alarm when HTTP is allowed (not
--   https_only), the minimum TLS version is below 1.2 (TLS1_0, TLS1_1), or
--   blob public access is allowed (allow_blob_public_access, which defaults
--   to allowed when unset on accounts made before 2023); the reason names
--   each. Else ok.
WITH judged AS (
  SELECT subscription_id, resource_group, name,
         concat_ws('; ',
           CASE WHEN NOT coalesce(https_only, true) THEN 'HTTP is allowed' END,
           CASE WHEN coalesce(minimum_tls_version, 'TLS1_0') IN ('TLS1_0', 'TLS1_1')
                THEN 'TLS ' || replace(replace(coalesce(minimum_tls_version, 'TLS1_0'), 'TLS', ''), '_', '.') || ' is accepted' END,
           CASE WHEN coalesce(allow_blob_public_access, true) THEN 'blob public access is allowed' END
         ) AS problems
  FROM azure.storage_accounts
)
SELECT subscription_id AS cluster, resource_group AS namespace, 'StorageAccount' AS kind, name,
       CASE WHEN problems = '' THEN 'ok' ELSE 'alarm' END AS status,
       CASE WHEN problems = '' THEN 'HTTPS only, TLS 1.2 or later, no anonymous blob access'
            ELSE problems END AS reason
FROM judged
ORDER BY cluster, namespace, name;
