-- EKS clusters whose API server endpoint is reachable from the internet,
-- and from where (0.0.0.0/0 means anyone).
SELECT account_id, region, name, version, public_access_cidrs,
       endpoint_private_access,
       array_has(public_access_cidrs, '0.0.0.0/0') AS open_to_world
FROM aws.eks_clusters
WHERE endpoint_public_access
ORDER BY account_id, region, name;
