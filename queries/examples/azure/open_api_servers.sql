-- AKS clusters whose API server anyone on the internet can reach: not
-- private, and no authorized IP ranges.
SELECT subscription_id, resource_group, name AS cluster, fqdn, kubernetes_version
FROM azure.aks_clusters
WHERE open_api_server
ORDER BY subscription_id, resource_group, cluster;
