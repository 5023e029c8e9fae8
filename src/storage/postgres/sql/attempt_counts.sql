-- Same as sqlite/sql/attempt_counts.sql, except the ranges: here two timestamptz arrays and unnest, there two JSON arrays of stored time text.
-- Attempts that ended $3 (sent), $4 (failed) and $5 (retry), counted per time range
-- [$1[i], $2[i]), in the ranges' order: each count a range of the (outcome, started_at) index.
SELECT (SELECT COUNT(*) FROM digis_attempt a
         WHERE a.outcome = $3 AND a.started_at >= r.start AND a.started_at < r.stop) AS sent,
       (SELECT COUNT(*) FROM digis_attempt a
         WHERE a.outcome = $4 AND a.started_at >= r.start AND a.started_at < r.stop) AS failed,
       (SELECT COUNT(*) FROM digis_attempt a
         WHERE a.outcome = $5 AND a.started_at >= r.start AND a.started_at < r.stop) AS retried
FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS r(start, stop, n)
ORDER BY r.n
