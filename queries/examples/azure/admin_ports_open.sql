-- AKS nodes that a network security group rule opens to SSH (22) or RDP
-- (3389) from the internet: an inbound allow rule from *, Internet, Any
-- or 0.0.0.0/0 in the NSG on the node's network interface or on its
-- subnet. Node → scale-set instance through providerID (compare without
-- case: AKS lowers the resource group).
SELECT n.cluster, n.name AS node, r.subscription_id, r.nsg, r.name AS rule,
       r.source, r.ports, r.priority
FROM nodes n
JOIN azure.vmss_instances i ON lower(i.provider_id) = lower(n.provider_id)
JOIN azure.nsg_rules r
  ON lower(r.nsg_id) = lower(i.nsg_id) OR array_has(r.subnets, i.subnet_id)
WHERE r.direction = 'inbound' AND r.access = 'allow' AND r.open_to_world
  AND r.protocol IN ('tcp', 'all')
  AND (22 BETWEEN r.from_port AND r.to_port OR 3389 BETWEEN r.from_port AND r.to_port)
ORDER BY n.cluster, node, r.nsg, rule;
