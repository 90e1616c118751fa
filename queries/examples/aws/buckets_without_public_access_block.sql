-- S3 buckets without a complete bucket-level public access block, with
-- their default encryption and versioning.
SELECT account_id, region, name, public_access_blocked,
       encryption_algorithm, versioning
FROM aws.s3_buckets
WHERE NOT public_access_blocked
ORDER BY account_id, region, name;
