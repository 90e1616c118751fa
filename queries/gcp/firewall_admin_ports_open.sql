-- id: gcp.firewall_admin_ports_open
-- title: No firewall rule opens SSH or RDP to the internet
-- severity: high
-- frameworks: CIS GCP 3.6, CIS GCP 3.7
-- rationale: SSH (22) and RDP (3389) open to 0.0.0.0/0 invite brute force
--   and exploit scans against every instance the rule targets, GKE nodes
--   included.
-- remediation: Narrow the rule's source ranges to known networks, or use
--   Identity-Aware Proxy TCP forwarding (35.235.240.0/20) instead.
-- alarms: Evaluates every firewall rule (gcp.compute_firewall_rules), one
--   row per rule with cluster = the project, namespace NULL, kind
--   FirewallRule. Status alarm when any of its rows is an enabled ingress
--   allow from 0.0.0.0/0 or ::/0 (open_to_world) for tcp or all protocols
--   covering port 22 or 3389; the reason names the ports and network.
--   Else ok.
WITH open_ports AS (
  SELECT project, name, network,
         string_agg(DISTINCT CASE WHEN 22 BETWEEN from_port AND to_port AND 3389 BETWEEN from_port AND to_port THEN '22 and 3389'
                                  WHEN 22 BETWEEN from_port AND to_port THEN '22'
                                  ELSE '3389' END, ', ') AS ports
  FROM gcp.compute_firewall_rules
  WHERE direction = 'ingress' AND action = 'allow' AND NOT disabled AND open_to_world
    AND protocol IN ('tcp', 'all')
    AND (22 BETWEEN from_port AND to_port OR 3389 BETWEEN from_port AND to_port)
  GROUP BY project, name, network
),
rules AS (
  SELECT DISTINCT project, name FROM gcp.compute_firewall_rules
)
SELECT r.project AS cluster, CAST(NULL AS VARCHAR) AS namespace, 'FirewallRule' AS kind, r.name,
       CASE WHEN o.name IS NULL THEN 'ok' ELSE 'alarm' END AS status,
       CASE WHEN o.name IS NULL THEN 'opens neither SSH nor RDP to the internet'
            ELSE 'opens port ' || o.ports || ' to the internet on network ' || o.network END AS reason
FROM rules r
LEFT JOIN open_ports o ON o.project = r.project AND o.name = r.name
ORDER BY cluster, r.name;
