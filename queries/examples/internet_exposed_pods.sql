-- Pods reachable from the internet through a LoadBalancer Service.
-- Load balancers marked internal by annotation (AWS, GCP, Azure, ...) are
-- excluded; source ranges are shown because they narrow who can connect.
SELECT p.cluster, p.namespace, p.name AS pod, s.name AS service,
       s.load_balancer_hostnames AS load_balancer,
       s.load_balancer_source_ranges AS source_ranges
FROM services s
JOIN pods p
  ON p.cluster = s.cluster
 AND p.namespace = s.namespace
 AND selector_matches(s.selector, p.labels)
WHERE s.type = 'LoadBalancer'
  AND NOT s.internal
  AND cardinality(map_keys(s.selector)) > 0
  AND p.phase = 'Running'
ORDER BY p.cluster, p.namespace, p.name, s.name;
