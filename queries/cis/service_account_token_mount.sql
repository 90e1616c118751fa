-- id: cis.service_account_token_mount
-- title: Service account tokens are only mounted where necessary
-- severity: medium
-- frameworks: CIS 5.1.6
-- rationale: A mounted token lets anything that compromises the container -
--   an RCE in the app, a malicious dependency - call the API server with the
--   pod's service account. Most application pods never talk to the API and
--   should not carry a credential for it.
-- remediation: Set automountServiceAccountToken false in the pod template
--   (or on the service account) of workloads that do not call the Kubernetes
--   API; mount a projected token explicitly where one is needed.
-- param: cis_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every workload of template_containers (top-level
--   Deployments, StatefulSets, DaemonSets, Jobs, CronJobs and pods no such
--   controller owns), one row per (cluster, namespace, kind, name). Status
--   skip when the namespace is in cis_exempt_namespaces. Otherwise the token
--   is mounted when the pod's automountServiceAccountToken is true, or when
--   it is unset (NULL) and the service account it runs as (service_account,
--   'default' when NULL; looked up in service_accounts of the same cluster
--   and namespace) does not set automount_token false - an unset or missing
--   service account counts as mounting. alarm when the token is mounted,
--   ok when it is not; the reason says which setting decided.
WITH workloads AS (
  SELECT cluster, namespace, kind, name,
         coalesce(max(service_account), 'default') AS service_account,
         -- pod-level setting: the same on every container row of a workload
         bool_or(automount_service_account_token) AS pod_true,
         bool_and(automount_service_account_token IS NOT NULL) AS pod_set
  FROM template_containers
  GROUP BY cluster, namespace, kind, name
),
decided AS (
  SELECT w.cluster, w.namespace, w.kind, w.name, w.service_account,
         CASE WHEN w.pod_set THEN w.pod_true
              ELSE coalesce(sa.automount_token, true) END AS mounted,
         CASE WHEN w.pod_set AND w.pod_true THEN 'the pod sets automountServiceAccountToken true'
              WHEN w.pod_set THEN 'the pod sets automountServiceAccountToken false'
              WHEN sa.name IS NULL THEN 'the pod leaves automountServiceAccountToken unset and service account '
                   || w.service_account || ' was not found'
              WHEN sa.automount_token IS NULL THEN 'neither the pod nor service account '
                   || w.service_account || ' sets automountServiceAccountToken'
              WHEN sa.automount_token THEN 'service account ' || w.service_account
                   || ' sets automountServiceAccountToken true'
              ELSE 'service account ' || w.service_account || ' sets automountServiceAccountToken false' END AS why
  FROM workloads w
  LEFT JOIN service_accounts sa
    ON sa.cluster = w.cluster AND sa.namespace = w.namespace AND sa.name = w.service_account
)
SELECT cluster, namespace, kind, name,
       CASE WHEN array_has({{cis_exempt_namespaces}}, namespace) THEN 'skip'
            WHEN mounted THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN array_has({{cis_exempt_namespaces}}, namespace) THEN 'namespace ' || namespace || ' is exempt'
            WHEN mounted THEN 'service account token is mounted: ' || why
            ELSE 'service account token is not mounted: ' || why END AS reason,
       service_account
FROM decided
ORDER BY cluster, namespace, kind, name;
