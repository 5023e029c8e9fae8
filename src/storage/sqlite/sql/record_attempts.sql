-- The attempts of a group, in order, from one JSON array read with json_each (PostgreSQL: json_to_recordset, and FOR KEY SHARE against a concurrent DELETE, which SQLite's one writer rules out); only rows that still exist get one (the membership system may have deleted a row in flight, and its attempt would break the foreign key and with it the group), and the ids that got one are returned.
INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, http_status, outcome, error)
SELECT x.value ->> 'outbox_id', x.value ->> 'attempt', x.value ->> 'started_at', x.value ->> 'duration_ms',
       x.value ->> 'relay_id', x.value ->> 'http_status', x.value ->> 'outcome', x.value ->> 'error'
FROM json_each(?1) AS x
JOIN digis_outbox AS o ON o.id = x.value ->> 'outbox_id'
ORDER BY x.key
RETURNING outbox_id
