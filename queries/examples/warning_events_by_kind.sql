-- Warning events grouped by the kind of object they are about.
SELECT involved_kind, count(*) AS events, sum(count) AS occurrences,
       count(DISTINCT cluster) AS clusters
FROM events
WHERE type = 'Warning'
GROUP BY involved_kind
ORDER BY events DESC, involved_kind;
