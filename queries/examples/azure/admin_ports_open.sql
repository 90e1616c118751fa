-- Network security group rules that let the internet reach SSH (22) or
-- RDP (3389): inbound allow rules from *, Internet, Any or 0.0.0.0/0.
SELECT subscription_id, resource_group, nsg, name AS rule, source, ports, priority
FROM azure.nsg_rules
WHERE direction = 'inbound' AND access = 'allow' AND open_to_world
  AND protocol IN ('tcp', 'all')
  AND (22 BETWEEN from_port AND to_port OR 3389 BETWEEN from_port AND to_port)
ORDER BY subscription_id, resource_group, nsg, rule;
