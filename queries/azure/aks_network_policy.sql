-- id: azure.aks_network_policy
-- title: AKS clusters enforce NetworkPolicy
-- severity: medium
-- frameworks: CIS AKS 5.4.4
-- rationale: Without a network policy engine, NetworkPolicy objects are
--   accepted and silently ignored: every pod can reach every other pod,
--   and a compromised workload moves laterally unhindered.
-- remediation: Enable a network policy engine (az aks update -g RG -n NAME
--   --network-policy azure|calico|cilium), then add default-deny policies.
-- alarms: Evaluates every AKS cluster (azure.aks_clusters), one row each
--   with cluster = the subscription id, namespace = the resource group,
--   kind ManagedCluster. Status alarm when no network policy engine is set
--   (network_policy NULL or 'none'). Else ok.
SELECT subscription_id AS cluster, resource_group AS namespace, 'ManagedCluster' AS kind, name,
       CASE WHEN coalesce(network_policy, 'none') = 'none' THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN coalesce(network_policy, 'none') = 'none'
            THEN 'no network policy engine: NetworkPolicy objects are not enforced'
            ELSE 'NetworkPolicy is enforced by ' || network_policy END AS reason
FROM azure.aks_clusters
ORDER BY cluster, namespace, name;
