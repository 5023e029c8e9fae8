-- Same as sqlite/sql/attempts_per_day.sql, except the bucket: here to_char of the UTC time (YYYY-MM-DD), there the stored text's first 10 characters.
-- Attempts per day and outcome in [$1, $2), through the (started_at, outcome) index.
SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS bucket, outcome, COUNT(*) AS n
FROM digis_attempt
WHERE started_at >= $1 AND started_at < $2
GROUP BY 1, 2
