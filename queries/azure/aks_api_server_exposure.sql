-- id: azure.aks_api_server_exposure
-- title: AKS API servers are not open to the whole internet
-- severity: high
-- frameworks: CIS AKS 5.4.1, CIS AKS 5.4.2
-- rationale: An API server with a public address and no authorized IP
--   ranges accepts connections from any address; every leaked kubeconfig,
--   API server vulnerability or brute force is one hop from the internet.
-- remediation: Set authorized IP ranges (az aks update -g RG -n NAME
--   --api-server-authorized-ip-ranges CIDR,...), or make the cluster
--   private (az aks create --enable-private-cluster).
-- alarms: Evaluates every AKS cluster (azure.aks_clusters), one row each
--   with cluster = the subscription id, namespace = the resource group,
--   kind ManagedCluster. Status alarm when the API server has a public
--   address and no authorized IP ranges (open_api_server). Else ok.
SELECT subscription_id AS cluster, resource_group AS namespace, 'ManagedCluster' AS kind, name,
       CASE WHEN open_api_server THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN private_cluster THEN 'the API server has a private address only'
            WHEN NOT open_api_server THEN 'the public API server accepts only '
                 || array_to_string(authorized_ip_ranges, ', ')
            ELSE 'the public API server ' || fqdn || ' accepts connections from any address' END AS reason
FROM azure.aks_clusters
ORDER BY cluster, namespace, name;
