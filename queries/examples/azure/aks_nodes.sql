-- Kubernetes nodes with the scale-set instance behind them: AKS writes
-- the instance's ARM path as the node's providerID (resource group in
-- lower case, so compare without case).
SELECT n.cluster, n.name AS node, v.subscription_id, v.resource_group,
       v.scale_set, v.instance_id, v.vm_size
FROM nodes n
JOIN azure.vmss_instances v ON lower(v.provider_id) = lower(n.provider_id)
ORDER BY n.cluster, node;
