-- Same as postgres/sql/attempts_per_day.sql, except the bucket: here the stored text's first 10 characters (YYYY-MM-DD, UTC), there to_char of the UTC time.
-- Attempts per day and outcome in [?1, ?2), through the (started_at, outcome) index.
SELECT substr(started_at, 1, 10) AS bucket, outcome, COUNT(*) AS n
FROM digis_attempt
WHERE started_at >= ?1 AND started_at < ?2
GROUP BY bucket, outcome
