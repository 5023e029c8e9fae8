-- Same as sqlite/sql/attempts_per_hour.sql, except the bucket: here to_char of the UTC time (YYYY-MM-DDTHH), there the stored text's first 13 characters.
-- Attempts per hour and outcome in [$1, $2), through the (started_at, outcome) index.
SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') AS bucket, outcome,
       COUNT(*) AS n
FROM digis_attempt
WHERE started_at >= $1 AND started_at < $2
GROUP BY 1, 2
