-- id: gcp.gke_node_identity
-- title: GKE nodes run as a dedicated service account and hide node credentials from pods
-- severity: high
-- frameworks: CIS GKE 5.2.1, CIS GKE 5.4.2
-- rationale: The Compute Engine default service account holds Editor on the
--   project by default, and with the GCE metadata server exposed every pod
--   on the node can fetch its token: one compromised pod edits the project.
-- remediation: Create node pools with a least-privilege service account
--   (--service-account) and the GKE metadata server (--workload-metadata
--   GKE_METADATA, with workload identity on the cluster).
-- alarms: Evaluates every GKE node pool (gcp.gke_node_pools), one row each
--   with cluster = the project, namespace = the location, kind NodePool,
--   name CLUSTER/POOL. Status alarm when its service_account is `default`
--   or a Compute Engine default account (ending in
--   -compute@developer.gserviceaccount.com), or its workload_metadata_mode
--   is not GKE_METADATA; the reason names each. Else ok.
WITH pools AS (
  SELECT project, location, cluster, name, service_account, workload_metadata_mode,
         service_account = 'default' OR service_account LIKE '%-compute@developer.gserviceaccount.com' AS default_account,
         coalesce(workload_metadata_mode, '') <> 'GKE_METADATA' AS metadata_exposed
  FROM gcp.gke_node_pools
)
SELECT project AS cluster, location AS namespace, 'NodePool' AS kind, cluster || '/' || name AS name,
       CASE WHEN default_account OR metadata_exposed THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN NOT default_account AND NOT metadata_exposed
            THEN 'nodes run as ' || service_account || ' behind the GKE metadata server'
            WHEN default_account AND metadata_exposed
            THEN 'nodes run as the Compute Engine default service account and pods can read its token from the GCE metadata server'
            WHEN default_account THEN 'nodes run as the Compute Engine default service account'
            ELSE 'pods can read the node''s credentials from the GCE metadata server (mode '
                 || coalesce(workload_metadata_mode, 'unset') || ')' END AS reason
FROM pools
ORDER BY cluster, namespace, name;
