-- GKE nodes whose VM a firewall rule opens to SSH (tcp/22, or every
-- port) from anywhere: an enabled ingress allow rule on the VM's network
-- that targets one of its network tags, the service account it runs as,
-- or every instance.
SELECT n.cluster, n.name AS node, i.project, i.zone,
       r.name AS firewall_rule, r.cidr AS source
FROM nodes n
JOIN gcp.compute_instances i ON i.provider_id = n.provider_id
JOIN gcp.compute_firewall_rules r
  ON r.project = i.project AND r.network = i.network
WHERE r.direction = 'ingress'
  AND r.action = 'allow'
  AND NOT r.disabled
  AND r.open_to_world
  AND r.protocol IN ('tcp', 'all')
  AND 22 BETWEEN r.from_port AND r.to_port
  AND ((cardinality(r.target_tags) = 0 AND cardinality(r.target_service_accounts) = 0)
       OR array_has_any(r.target_tags, i.network_tags)
       OR array_has_any(r.target_service_accounts, i.service_accounts))
ORDER BY n.cluster, node, firewall_rule;
