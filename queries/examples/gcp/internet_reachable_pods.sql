-- Pods reachable from the internet, and through which address: a
-- LoadBalancer Service whose ingress address is an external forwarding
-- rule's, with the pods its selector picks.
SELECT DISTINCT p.cluster, p.namespace, p.name AS pod, s.name AS service,
       f.project, f.region, f.name AS forwarding_rule, f.ip_address,
       f.port_range
FROM services s
JOIN gcp.compute_forwarding_rules f
  ON array_has(s.load_balancer_ips, f.ip_address)
JOIN pods p
  ON p.cluster = s.cluster
 AND p.namespace = s.namespace
 AND selector_matches(s.selector, p.labels)
WHERE s.type = 'LoadBalancer'
  AND cardinality(map_keys(s.selector)) > 0
  AND f.load_balancing_scheme = 'EXTERNAL'
ORDER BY p.cluster, p.namespace, pod, service;
