-- id: azure.nsg_admin_ports_open
-- title: No network security group rule opens SSH or RDP to the internet
-- severity: high
-- frameworks: CIS Azure 6.1, CIS Azure 6.2
-- rationale: SSH (22) and RDP (3389) open to the internet invite brute
--   force and exploit scans against every VM and AKS node behind the
--   security group.
-- remediation: Narrow the rule's source to known networks, or reach
--   machines through Azure Bastion or just-in-time VM access.
-- alarms: Evaluates every rule a user or AKS wrote (azure.nsg_rules,
--   default rules left out), one row per rule with cluster = the
--   subscription id, namespace = the resource group, kind SecurityRule,
--   name NSG/RULE. Status alarm when any of its rows is an inbound allow
--   from *, Internet, Any or 0.0.0.0/0 (open_to_world) for tcp or all
--   protocols covering port 22 or 3389; the reason names the ports. Else ok.
WITH open_ports AS (
  SELECT subscription_id, resource_group, nsg, name,
         string_agg(DISTINCT CASE WHEN 22 BETWEEN from_port AND to_port AND 3389 BETWEEN from_port AND to_port THEN '22 and 3389'
                                  WHEN 22 BETWEEN from_port AND to_port THEN '22'
                                  ELSE '3389' END, ', ') AS ports
  FROM azure.nsg_rules
  WHERE NOT default_rule AND direction = 'inbound' AND access = 'allow' AND open_to_world
    AND protocol IN ('tcp', 'all')
    AND (22 BETWEEN from_port AND to_port OR 3389 BETWEEN from_port AND to_port)
  GROUP BY subscription_id, resource_group, nsg, name
),
rules AS (
  SELECT DISTINCT subscription_id, resource_group, nsg, name
  FROM azure.nsg_rules
  WHERE NOT default_rule
)
SELECT r.subscription_id AS cluster, r.resource_group AS namespace, 'SecurityRule' AS kind,
       r.nsg || '/' || r.name AS name,
       CASE WHEN o.name IS NULL THEN 'ok' ELSE 'alarm' END AS status,
       CASE WHEN o.name IS NULL THEN 'opens neither SSH nor RDP to the internet'
            ELSE 'opens port ' || o.ports || ' to the internet' END AS reason
FROM rules r
LEFT JOIN open_ports o
  ON o.subscription_id = r.subscription_id AND o.resource_group = r.resource_group
 AND o.nsg = r.nsg AND o.name = r.name
ORDER BY cluster, namespace, name;
