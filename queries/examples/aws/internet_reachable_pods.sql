-- Pods reachable from the internet: a LoadBalancer Service whose AWS load
-- balancer is internet-facing, with a listener on a port that one of the
-- load balancer's security groups opens to 0.0.0.0/0 or ::/0.
SELECT DISTINCT p.cluster, p.namespace, p.name AS pod, s.name AS service,
       lb.account_id, lb.region, lb.name AS load_balancer, l.port,
       r.group_id
FROM services s
JOIN aws.elbv2_load_balancers lb ON lb.dns_name = s.load_balancer_hostname
JOIN aws.elbv2_listeners l ON l.load_balancer_arn = lb.load_balancer_arn
JOIN (SELECT load_balancer_arn, unnest(security_groups) AS group_id
      FROM aws.elbv2_load_balancers) lbg
  ON lbg.load_balancer_arn = lb.load_balancer_arn
JOIN aws.security_group_rules r
  ON r.group_id = lbg.group_id
 AND r.account_id = lb.account_id AND r.region = lb.region
JOIN pods p
  ON p.cluster = s.cluster
 AND p.namespace = s.namespace
 AND selector_matches(s.selector, p.labels)
WHERE s.type = 'LoadBalancer'
  AND cardinality(map_keys(s.selector)) > 0
  AND lb.scheme = 'internet-facing'
  AND r.direction = 'ingress'
  AND r.open_to_world
  AND l.port BETWEEN r.from_port AND r.to_port
ORDER BY p.cluster, p.namespace, pod, service, l.port;
