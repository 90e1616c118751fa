-- id: nsa.non_root_containers
-- title: Containers run as a non-root user
-- severity: medium
-- frameworks: NSA/CISA Kubernetes Hardening Guide v1.2 (Pod security: non-root
--   containers), kubescape C-0013
-- rationale: A process running as UID 0 is root on the node too once it escapes the
--   container; NSA/CISA asks that containers run as a non-root user, enforced
--   by the pod spec rather than trusted to the image.
-- remediation: Set securityContext.runAsUser to a non-zero UID, or
--   securityContext.runAsNonRoot: true (pod or container), and build images
--   with a non-root USER.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). run_as_user and run_as_non_root are the
--   container values, else the pod values. A container is non-root when
--   run_as_user > 0, or when run_as_user is null and run_as_non_root is true.
--   Alarm when at least one container is not: run_as_user = 0, or run_as_user null
--   and run_as_non_root false or null. Otherwise ok. Unlike
--   baseline.run_as_non_root (PSS restricted), an explicit non-zero runAsUser
--   passes without runAsNonRoot.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         CASE
           WHEN run_as_user IS NOT NULL THEN run_as_user <= 0
           ELSE NOT coalesce(run_as_non_root, false)
         END AS bad,
         CASE
           WHEN run_as_user = 0 THEN 'runs as UID 0'
           WHEN run_as_user < 0 THEN 'sets invalid runAsUser ' || run_as_user
           WHEN run_as_non_root IS FALSE THEN 'sets runAsNonRoot: false and no runAsUser'
           ELSE 'sets neither runAsNonRoot: true nor a non-zero runAsUser'
         END AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'every container runs as a non-root user'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
