-- id: baseline.services_not_public
-- title: Services are not exposed outside the cluster
-- severity: high
-- frameworks: Kubernetes Best Practices ch. 11, Gatekeeper K8sBlockNodePort, Gatekeeper K8sBlockLoadBalancer
-- rationale: A NodePort Service opens a port on every node and an internet-facing
--   load balancer puts the pods behind it on the internet; either bypasses the
--   ingress layer where TLS, authentication and rate limits usually live.
-- remediation: Use a ClusterIP Service behind an Ingress, mark the load balancer
--   internal with your cloud's annotation (e.g. service.beta.kubernetes.io/aws-load-balancer-scheme:
--   internal), or restrict spec.loadBalancerSourceRanges to known networks.
-- alarms: Every Service is evaluated. type NodePort: alarm. type LoadBalancer: ok when
--   services.internal is true (a cloud "internal load balancer" annotation); otherwise the
--   source ranges are spec.loadBalancerSourceRanges, or, when that list is empty or null,
--   the comma-separated annotation service.beta.kubernetes.io/load-balancer-source-ranges
--   (whitespace removed, empty entries ignored); ok when there is at least one range and
--   no range has prefix length 0 (ends in "/0", e.g. 0.0.0.0/0 or ::/0); alarm otherwise
--   (no ranges, or an open range). Any other type (ClusterIP, headless, ExternalName): ok.
WITH s AS (
  SELECT cluster, namespace, name, type, internal,
         CASE
           WHEN cardinality(load_balancer_source_ranges) > 0
             THEN array_to_string(load_balancer_source_ranges, ',')
           ELSE regexp_replace(annotations['service.beta.kubernetes.io/load-balancer-source-ranges'], '\s', '', 'g')
         END AS ranges
  FROM services
), r AS (
  SELECT cluster, namespace, name, type, internal,
         trim(BOTH ',' FROM regexp_replace(coalesce(ranges, ''), ',+', ',', 'g')) AS ranges
  FROM s
)
SELECT cluster, namespace, 'Service' AS kind, name,
       CASE
         WHEN type = 'NodePort' THEN 'alarm'
         WHEN type <> 'LoadBalancer' OR type IS NULL THEN 'ok'
         WHEN internal THEN 'ok'
         WHEN ranges = '' THEN 'alarm'
         WHEN regexp_like(ranges || ',', '/0,') THEN 'alarm'
         ELSE 'ok'
       END AS status,
       CASE
         WHEN type = 'NodePort' THEN 'NodePort service is reachable on a port of every node'
         WHEN type <> 'LoadBalancer' OR type IS NULL
           THEN coalesce(type, 'untyped') || ' service is not exposed outside the cluster'
         WHEN internal THEN 'load balancer is annotated internal'
         WHEN ranges = '' THEN 'internet-facing load balancer without loadBalancerSourceRanges'
         WHEN regexp_like(ranges || ',', '/0,')
           THEN 'load balancer source ranges include an open range: ' || replace(ranges, ',', ', ')
         ELSE 'load balancer restricted to source ranges ' || replace(ranges, ',', ', ')
       END AS reason,
       type
FROM r
ORDER BY cluster, namespace, kind, name;
