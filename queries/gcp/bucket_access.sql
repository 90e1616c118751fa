-- id: gcp.bucket_access
-- title: Buckets use uniform bucket-level access and prevent public access
-- severity: medium
-- frameworks: CIS GCP 5.1, CIS GCP 5.2
-- rationale: Per-object ACLs bypass the project's IAM review, and a bucket
--   whose public access prevention is only inherited becomes public the day
--   someone grants allUsers.
-- remediation: gcloud storage buckets update gs://NAME
--   --uniform-bucket-level-access --public-access-prevention
-- alarms: Evaluates every bucket (gcp.storage_buckets), one row each with
--   cluster = the project, namespace = its location in lower case, kind
--   Bucket. Status alarm when uniform_bucket_level_access is false or
--   public_access_prevention is not enforced; the reason names each. Else ok.
SELECT project AS cluster, region AS namespace, 'Bucket' AS kind, name,
       CASE WHEN uniform_bucket_level_access AND public_access_prevention = 'enforced' THEN 'ok' ELSE 'alarm' END AS status,
       CASE WHEN uniform_bucket_level_access AND public_access_prevention = 'enforced'
            THEN 'uniform bucket-level access, public access prevention enforced'
            WHEN NOT uniform_bucket_level_access AND coalesce(public_access_prevention, '') <> 'enforced'
            THEN 'object ACLs apply and public access prevention is ' || coalesce(public_access_prevention, 'unset')
            WHEN NOT uniform_bucket_level_access THEN 'object ACLs apply (uniform bucket-level access is off)'
            ELSE 'public access prevention is ' || coalesce(public_access_prevention, 'unset') || ', not enforced' END AS reason
FROM gcp.storage_buckets
ORDER BY cluster, namespace, name;
