-- id: baseline.trusted_registries
-- title: Container images come from trusted registries
-- severity: high
-- frameworks: Kubernetes Best Practices ch. 11, Gatekeeper K8sAllowedRepos
-- rationale: Images from registries you do not control can be replaced or poisoned
--   upstream and bypass your scanning and signing pipeline.
-- remediation: Mirror the image into a trusted registry and reference it from there, or
--   add the registry to trusted_registries.
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Each container's normalized image_ref
--   (nginx becomes docker.io/library/nginx:latest) is compared with the
--   trusted_registries list using starts_with_any (plain, case-sensitive prefix
--   match; write docker.io/library/ for official Docker Hub images). Alarm when at
--   least one container's image_ref starts with none of the prefixes, or image_ref
--   is null (unparsable image). Otherwise ok.
-- param: trusted_registries[] = registry.k8s.io/
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         image_ref IS NULL
         OR NOT coalesce(starts_with_any(image_ref, {{trusted_registries}}), false) AS bad,
         CASE
           WHEN image_ref IS NULL THEN 'uses image ' || coalesce(image, '(none)') || ' that could not be parsed'
           WHEN image_ref = image THEN 'uses image ' || image || ' from an untrusted registry'
           ELSE 'uses image ' || image || ' (' || image_ref || ') from an untrusted registry'
         END AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'every image comes from a trusted registry'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
