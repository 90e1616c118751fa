-- Pods reachable from the internet, and through which address: a
-- LoadBalancer Service whose ingress IP is one of the subscription's
-- public IPs, with the pods its selector picks.
SELECT DISTINCT p.cluster, p.namespace, p.name AS pod, s.name AS service,
       ip.subscription_id, ip.resource_group, ip.name AS public_ip, ip.ip_address
FROM services s
JOIN azure.public_ips ip ON array_has(s.load_balancer_ips, ip.ip_address)
JOIN pods p
  ON p.cluster = s.cluster
 AND p.namespace = s.namespace
 AND selector_matches(s.selector, p.labels)
WHERE s.type = 'LoadBalancer'
  AND cardinality(map_keys(s.selector)) > 0
ORDER BY p.cluster, p.namespace, pod, service;
