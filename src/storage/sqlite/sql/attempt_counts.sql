-- Same as postgres/sql/attempt_counts.sql, except the ranges: here two JSON arrays of stored time text zipped by position, there two timestamptz arrays and unnest.
-- Attempts that ended ?3 (sent), ?4 (failed) and ?5 (retry), counted per time range
-- [?1[i], ?2[i]), in the ranges' order: each count a range of the (outcome, started_at) index.
SELECT (SELECT COUNT(*) FROM digis_attempt a
         WHERE a.outcome = ?3 AND a.started_at >= s.value AND a.started_at < e.value) AS sent,
       (SELECT COUNT(*) FROM digis_attempt a
         WHERE a.outcome = ?4 AND a.started_at >= s.value AND a.started_at < e.value) AS failed,
       (SELECT COUNT(*) FROM digis_attempt a
         WHERE a.outcome = ?5 AND a.started_at >= s.value AND a.started_at < e.value) AS retried
FROM json_each(?1) s
JOIN json_each(?2) e ON e.key = s.key
ORDER BY s.key
