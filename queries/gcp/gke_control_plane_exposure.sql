-- id: gcp.gke_control_plane_exposure
-- title: GKE control planes are not open to the whole internet
-- severity: high
-- frameworks: CIS GKE 5.6.3, CIS GKE 5.6.4
-- rationale: A control plane with a public endpoint and no authorized
--   networks accepts connections from any address; every credential leak,
--   API server vulnerability or brute force is one hop from the internet.
-- remediation: Enable master authorized networks with the CIDRs that need
--   the API (gcloud container clusters update NAME
--   --enable-master-authorized-networks --master-authorized-networks CIDR),
--   or make the endpoint private.
-- alarms: Evaluates every GKE cluster (gcp.gke_clusters), one row each
--   with cluster = the project, namespace = the location, kind GKECluster.
--   Status alarm when the control plane answers on a public address
--   (public_endpoint) and master authorized networks are off. Else ok.
SELECT project AS cluster, location AS namespace, 'GKECluster' AS kind, name,
       CASE WHEN public_endpoint AND NOT master_authorized_networks_enabled THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN NOT public_endpoint THEN 'the control plane has a private endpoint only'
            WHEN master_authorized_networks_enabled THEN 'the public endpoint accepts only '
                 || array_to_string(master_authorized_networks, ', ')
            ELSE 'the public endpoint ' || endpoint || ' accepts connections from any address' END AS reason
FROM gcp.gke_clusters
ORDER BY cluster, namespace, name;
