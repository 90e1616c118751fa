-- Kubernetes nodes whose EC2 instance has a security group allowing SSH
-- (tcp/22, or all traffic) from anywhere.
SELECT n.cluster, n.name AS node, i.account_id, i.region, i.instance_id,
       r.group_id, r.group_name, coalesce(r.cidr_ipv4, r.cidr_ipv6) AS source
FROM nodes n
JOIN aws.ec2_instances i ON i.instance_id = n.instance_id
JOIN (SELECT instance_id, unnest(security_group_ids) AS group_id
      FROM aws.ec2_instances) ig
  ON ig.instance_id = i.instance_id
JOIN aws.security_group_rules r
  ON r.group_id = ig.group_id
 AND r.account_id = i.account_id AND r.region = i.region
WHERE r.direction = 'ingress'
  AND r.open_to_world
  AND r.protocol IN ('tcp', 'all')
  AND 22 BETWEEN r.from_port AND r.to_port
ORDER BY n.cluster, node, r.group_id, source;
