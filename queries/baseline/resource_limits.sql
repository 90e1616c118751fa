-- id: baseline.resource_limits
-- title: Containers have CPU and memory limits
-- severity: medium
-- frameworks: Kubernetes Best Practices ch. 11, Gatekeeper K8sContainerLimits, Polaris
--   cpuLimitsMissing, Polaris memoryLimitsMissing, NSA/CISA Kubernetes
--   Hardening Guide (resource policies)
-- rationale: A container without limits can starve its neighbours of CPU and push the
--   node into memory pressure, where the kubelet evicts other pods first.
-- remediation: Set resources.limits.cpu and resources.limits.memory on every container
--   and init container, or give the namespace a LimitRange with default
--   limits.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. Init and regular
--   containers count; ephemeral containers are ignored (they cannot set
--   resources). A CPU limit is present when cpu_limit > 0, or when cpu_limit is
--   null and a LimitRange in the same cluster and namespace has a non-null
--   default_cpu_limit (the admission default); likewise memory with memory_limit
--   and default_memory_limit. Alarm when at least one counted container lacks a
--   CPU limit or a memory limit (cpu_limit or memory_limit equal to 0 count as
--   missing). Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         NOT coalesce(cpu_limit > 0, lr_cpu IS NOT NULL)
         OR NOT coalesce(memory_limit > 0, lr_memory IS NOT NULL) AS bad,
         'has ' || concat_ws(' and ',
           CASE WHEN NOT coalesce(cpu_limit > 0, lr_cpu IS NOT NULL) THEN 'no CPU limit' END,
           CASE WHEN NOT coalesce(memory_limit > 0, lr_memory IS NOT NULL) THEN 'no memory limit' END) AS finding
  FROM template_containers AS t
  LEFT JOIN (SELECT cluster AS lr_cluster, namespace AS lr_namespace,
                    max(default_cpu_limit) AS lr_cpu, max(default_memory_limit) AS lr_memory
             FROM limit_ranges GROUP BY cluster, namespace) lr
    ON lr.lr_cluster = t.cluster AND lr.lr_namespace = t.namespace
  WHERE container_type IN ('init', 'regular')
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'every container has CPU and memory limits (set or defaulted by a LimitRange)'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
