-- The attempts of a group, in order, from one JSON array read with json_each (PostgreSQL: json_to_recordset).
INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, http_status, outcome, error)
SELECT value ->> 'outbox_id', value ->> 'attempt', value ->> 'started_at', value ->> 'duration_ms',
       value ->> 'relay_id', value ->> 'http_status', value ->> 'outcome', value ->> 'error'
FROM json_each(?1)
ORDER BY key
