-- Running images pulled from ECR repositories that do not scan images on
-- push (so nobody was told about the image's known vulnerabilities).
SELECT DISTINCT c.cluster, c.namespace, c.pod_name, c.name AS container,
       c.image, r.account_id, r.region, r.repository_name
FROM containers c
JOIN aws.ecr_repositories r
  ON r.repository_uri = c.registry || '/' || c.repository
WHERE NOT r.scan_on_push
ORDER BY c.cluster, c.namespace, c.pod_name, container;
