-- id: practices.namespace_owner
-- title: Every namespace is annotated with an owner and a team
-- severity: low
-- frameworks: Kubernetes Best Practices ch. 2, Pulumi Crosswalk cluster configuration
-- rationale: When an alert fires, a quota runs out or a CVE lands, someone
--   has to be reachable for each namespace. Owner and team annotations make
--   that a lookup instead of an archaeology project, and let reports and
--   cost tools group namespaces by team.
-- remediation: kubectl annotate namespace NS owner=PERSON@example.com
--   team=TEAM (use the annotation keys your organisation standardised on
--   and set them in the namespace's manifest or provisioning pipeline).
-- param: owner_annotation = owner
-- param: team_annotation = team
-- param: practices_exempt_namespaces[] = kube-system, kube-public, kube-node-lease
-- alarms: Evaluates every Namespace (namespaces), one row each with
--   namespace NULL, kind Namespace and the namespace's name. Status skip when
--   its name is in practices_exempt_namespaces (Kubernetes' own namespaces;
--   the platform namespaces of the demo fleet carry the annotations and are
--   evaluated like any other). Otherwise alarm when the annotation named by
--   owner_annotation (default owner) or the one named by team_annotation
--   (default team) is missing or blank (empty after trimming spaces); the
--   reason names the missing ones. Else ok, the reason giving both values.
SELECT cluster, CAST(NULL AS VARCHAR) AS namespace, 'Namespace' AS kind, name,
       CASE WHEN array_has({{practices_exempt_namespaces}}, name) THEN 'skip'
            WHEN coalesce(trim(annotations[{{owner_annotation}}]), '') = ''
              OR coalesce(trim(annotations[{{team_annotation}}]), '') = '' THEN 'alarm'
            ELSE 'ok' END AS status,
       CASE WHEN array_has({{practices_exempt_namespaces}}, name) THEN 'namespace ' || name || ' is exempt'
            WHEN coalesce(trim(annotations[{{owner_annotation}}]), '') = ''
              OR coalesce(trim(annotations[{{team_annotation}}]), '') = ''
              THEN 'namespace ' || name || ' lacks the '
                   || CASE WHEN coalesce(trim(annotations[{{owner_annotation}}]), '') = ''
                            AND coalesce(trim(annotations[{{team_annotation}}]), '') = ''
                           THEN {{owner_annotation}} || ' and ' || {{team_annotation}} || ' annotations'
                           WHEN coalesce(trim(annotations[{{owner_annotation}}]), '') = ''
                           THEN {{owner_annotation}} || ' annotation'
                           ELSE {{team_annotation}} || ' annotation' END
            ELSE 'namespace ' || name || ' is owned by ' || annotations[{{owner_annotation}}]
                 || ' (team ' || annotations[{{team_annotation}}] || ')' END AS reason
FROM namespaces
ORDER BY cluster, namespace, kind, name;
