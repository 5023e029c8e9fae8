-- Same as postgres/sql/attempts_per_hour.sql, except the bucket: here the stored text's first 13 characters (YYYY-MM-DDTHH, UTC), there to_char of the UTC time.
-- Attempts per hour and outcome in [?1, ?2), through the (started_at, outcome) index.
SELECT substr(started_at, 1, 13) AS bucket, outcome, COUNT(*) AS n
FROM digis_attempt
WHERE started_at >= ?1 AND started_at < ?2
GROUP BY bucket, outcome
