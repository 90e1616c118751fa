-- id: baseline.image_tag_pinned
-- title: Container images are pinned to a version tag or digest
-- severity: medium
-- frameworks: Kubernetes Best Practices ch. 11, Polaris tagNotSpecified, Gatekeeper
--   K8sDisallowedTags
-- rationale: latest (or no tag at all) names whatever was pushed last: rollouts and
--   restarts can silently run different code on different nodes, and a rollback
--   cannot go back.
-- remediation: Reference images by an immutable version tag, or better by digest
--   (image@sha256:...).
-- alarms: Evaluated: one row per workload in template_containers (Deployment,
--   StatefulSet, DaemonSet, Job and CronJob pod templates, and Pods that no such
--   workload owns), grouped by cluster, namespace, kind, name. All its containers
--   count (init, regular and ephemeral). Alarm when at least one container has no
--   digest (digest is null) and its tag is null or exactly 'latest' (kq reports
--   tag latest when the image names neither tag nor digest), or its image could
--   not be parsed (image_ref is null). A digest pins the image whatever the tag.
--   Otherwise ok.
WITH c AS (
  SELECT cluster, namespace, kind, name, container,
         CASE container_type WHEN 'init' THEN 'init container ' WHEN 'ephemeral' THEN 'ephemeral container ' ELSE 'container ' END || container AS who,
         image_ref IS NULL OR (digest IS NULL AND (tag IS NULL OR tag = 'latest')) AS bad,
         CASE
           WHEN image_ref IS NULL THEN 'uses image ' || coalesce(image, '(none)') || ' that could not be parsed'
           WHEN regexp_like(split_part(image, '@', 1), ':[^/]*$') THEN 'uses image ' || image || ' with the mutable tag latest'
           ELSE 'uses image ' || image || ' without a tag (means latest)'
         END AS finding
  FROM template_containers
)
SELECT cluster, namespace, kind, name,
       CASE WHEN bool_or(bad) THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN bool_or(bad)
            THEN string_agg(CASE WHEN bad THEN who || ' ' || finding END, '; ' ORDER BY container)
            ELSE 'every image is pinned to a version tag or a digest'
       END AS reason
FROM c
GROUP BY cluster, namespace, kind, name
ORDER BY cluster, namespace, kind, name;
