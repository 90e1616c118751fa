-- id: azure.aks_private_nodes
-- title: AKS nodes have no public IP addresses
-- severity: medium
-- frameworks: CIS AKS 5.4.3
-- rationale: A node with its own public IP is reachable from the internet
--   on every port its network security group lets through (kubelet, SSH,
--   NodePorts), bypassing the load balancer that fronts the cluster.
-- remediation: Recreate the agent pool without node public IPs (az aks
--   nodepool add ... without --enable-node-public-ip), then delete the old
--   pool; egress goes through the load balancer or a NAT gateway.
-- alarms: Evaluates every agent pool (azure.aks_agent_pools), one row each
--   with cluster = the subscription id, namespace = the resource group,
--   kind AgentPool, name CLUSTER/POOL. Status alarm when its nodes get
--   public IPs (node_public_ip). Else ok.
SELECT subscription_id AS cluster, resource_group AS namespace, 'AgentPool' AS kind,
       cluster || '/' || name AS name,
       CASE WHEN coalesce(node_public_ip, false) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN coalesce(node_public_ip, false)
            THEN 'its ' || CAST(count AS VARCHAR) || ' nodes each have a public IP address'
            ELSE 'its nodes have private addresses only' END AS reason
FROM azure.aks_agent_pools
ORDER BY cluster, namespace, name;
