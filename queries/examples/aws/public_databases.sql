-- RDS instances reachable from outside their VPC, or unencrypted at rest.
SELECT account_id, region, db_instance_identifier, engine, engine_version,
       publicly_accessible, storage_encrypted, security_group_ids
FROM aws.rds_db_instances
WHERE publicly_accessible OR NOT storage_encrypted
ORDER BY account_id, region, db_instance_identifier;
