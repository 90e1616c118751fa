-- GKE clusters whose control plane answers on a public address to
-- anyone: no private endpoint and no master authorized networks.
SELECT project, location, name AS cluster, endpoint, master_version
FROM gcp.gke_clusters
WHERE public_endpoint
  AND NOT master_authorized_networks_enabled
ORDER BY project, location, cluster;
