-- id: nsa.service_account_token_automount
-- title: Pods do not mount a service account token they do not need
-- severity: medium
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Pod security: protecting pod
--   service account tokens), CIS Kubernetes Benchmark 5.1 (service account
--   tokens mounted only where necessary), kubescape C-0034
-- rationale: Every mounted token is an API credential an attacker gets for free with a
--   compromised container; most applications never call the Kubernetes API.
-- remediation: Set automountServiceAccountToken: false on the pod template (or on its
--   ServiceAccount) and opt in only for pods that call the API.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name; the fields are
--   pod-level and repeated on every container row. The pod's service account is
--   service_account (default when null). The token is mounted when the pod's
--   automount_service_account_token is true, or when it is null and the
--   ServiceAccount of that name (same cluster and namespace) has automount_token
--   true or null, or does not exist. Alarm when the token is mounted (an explicit
--   true on the pod counts); ok when the pod sets it to false, or the pod leaves
--   it null and the ServiceAccount sets it to false.
WITH c AS (
  SELECT cluster, namespace, kind, name,
         coalesce(service_account, 'default') AS sa,
         automount_service_account_token AS pod_automount
  FROM template_containers
), w AS (
  SELECT cluster, namespace, kind, name, max(sa) AS sa, bool_or(pod_automount) AS pod_automount
  FROM c
  GROUP BY cluster, namespace, kind, name
), graded AS (
  SELECT w.cluster, w.namespace, w.kind, w.name, w.sa, w.pod_automount,
         s.name AS sa_found, s.automount_token AS sa_automount
  FROM w
  LEFT JOIN service_accounts s
    ON s.cluster = w.cluster AND s.namespace = w.namespace AND s.name = w.sa
)
SELECT cluster, namespace, kind, name,
       CASE WHEN coalesce(pod_automount, sa_automount, true) THEN 'alarm' ELSE 'ok' END AS status,
       CASE
         WHEN pod_automount THEN 'pod sets automountServiceAccountToken: true (service account ' || sa || ')'
         WHEN NOT pod_automount THEN 'pod sets automountServiceAccountToken: false'
         WHEN sa_automount THEN 'token of service account ' || sa || ' is mounted: the ServiceAccount sets automountServiceAccountToken: true'
         WHEN NOT sa_automount THEN 'service account ' || sa || ' sets automountServiceAccountToken: false'
         WHEN sa_found IS NULL THEN 'token of service account ' || sa || ' is mounted: the ServiceAccount does not exist and the pod does not opt out'
         ELSE 'token of service account ' || sa || ' is mounted: neither the pod nor the ServiceAccount sets automountServiceAccountToken: false'
       END AS reason,
       sa AS service_account
FROM graded
ORDER BY cluster, namespace, kind, name;
