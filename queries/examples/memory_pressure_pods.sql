-- Pods running on nodes under memory pressure (first to be evicted:
-- BestEffort, then Burstable).
SELECT p.cluster, n.name AS node, p.namespace, p.name AS pod, p.qos_class
FROM pods p
JOIN nodes n ON n.cluster = p.cluster AND n.name = p.node_name
WHERE n.memory_pressure
ORDER BY p.cluster, n.name, p.namespace, p.name;
