-- id: azure.aks_identity
-- title: AKS clusters authenticate through Entra ID, with RBAC and no local accounts
-- severity: high
-- frameworks: CIS AKS 5.5.1, CIS AKS 5.5.2
-- rationale: A cluster's local admin account is a static credential
--   (az aks get-credentials --admin) that no conditional access, MFA or
--   offboarding revokes; without Entra ID integration and RBAC, who may do
--   what in the cluster is not managed where the rest of access is.
-- remediation: Enable the Entra ID integration and disable local accounts
--   (az aks update -g RG -n NAME --enable-aad --disable-local-accounts);
--   RBAC is chosen at creation (az aks create --enable-rbac).
-- alarms: Evaluates every AKS cluster (azure.aks_clusters), one row each
--   with cluster = the subscription id, namespace = the resource group,
--   kind ManagedCluster. Status alarm when Kubernetes RBAC is off, Entra ID
--   integration is off (aad_managed), or local accounts are enabled; the
--   reason names each. Else ok.
WITH judged AS (
  SELECT subscription_id, resource_group, name,
         concat_ws('; ',
           CASE WHEN NOT coalesce(rbac_enabled, false) THEN 'Kubernetes RBAC is off' END,
           CASE WHEN NOT aad_managed THEN 'Entra ID integration is off' END,
           CASE WHEN NOT local_accounts_disabled THEN 'local accounts (the static admin kubeconfig) are enabled' END
         ) AS problems
  FROM azure.aks_clusters
)
SELECT subscription_id AS cluster, resource_group AS namespace, 'ManagedCluster' AS kind, name,
       CASE WHEN problems = '' THEN 'ok' ELSE 'alarm' END AS status,
       CASE WHEN problems = '' THEN 'Entra ID integration and RBAC on, local accounts disabled'
            ELSE problems END AS reason
FROM judged
ORDER BY cluster, namespace, name;
