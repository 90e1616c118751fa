-- id: gcp.gke_hardening
-- title: GKE clusters enforce NetworkPolicy, run shielded nodes and have legacy ABAC off
-- severity: medium
-- frameworks: CIS GKE 5.6.7, CIS GKE 5.5.5, CIS GKE 5.8.4
-- rationale: Without NetworkPolicy enforcement every pod reaches every
--   other pod; legacy ABAC grants broad rights outside RBAC; nodes that are
--   not Shielded VMs can be impersonated by a compromised pod.
-- remediation: gcloud container clusters update NAME --enable-network-policy
--   (or Dataplane V2), --enable-shielded-nodes, --no-enable-legacy-authorization.
-- alarms: Evaluates every GKE cluster (gcp.gke_clusters), one row each
--   with cluster = the project, namespace = the location, kind GKECluster.
--   Status alarm when any of: network_policy_enabled is false, legacy_abac
--   is true, shielded_nodes is false; the reason names each. Else ok.
SELECT project AS cluster, location AS namespace, 'GKECluster' AS kind, name,
       CASE WHEN network_policy_enabled AND NOT legacy_abac AND shielded_nodes THEN 'ok' ELSE 'alarm' END AS status,
       CASE WHEN network_policy_enabled AND NOT legacy_abac AND shielded_nodes
            THEN 'NetworkPolicy is enforced, legacy ABAC is off and nodes are shielded'
            ELSE array_to_string(array_remove(array_remove(array_remove(
                   [CASE WHEN NOT network_policy_enabled THEN 'NetworkPolicy is not enforced' ELSE '' END,
                    CASE WHEN legacy_abac THEN 'legacy ABAC is on' ELSE '' END,
                    CASE WHEN NOT shielded_nodes THEN 'shielded nodes are off' ELSE '' END],
                   ''), ''), ''), '; ') END AS reason
FROM gcp.gke_clusters
ORDER BY cluster, namespace, name;
