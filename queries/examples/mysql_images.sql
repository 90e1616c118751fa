-- Which MySQL versions run across the fleet, and where?
-- (the seed question: Pulumi's list("v1","Pod").flatMap(...).filter(i => i.includes("mysql")).distinct())
SELECT image, count(DISTINCT cluster) AS clusters, count(*) AS containers
FROM containers
WHERE image LIKE '%mysql%'
GROUP BY image
ORDER BY image;
