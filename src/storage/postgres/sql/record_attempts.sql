-- The attempts of a group, in order, from one JSON array read with json_to_recordset (SQLite: json_each).
INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, http_status, outcome, error)
SELECT x.outbox_id, x.attempt, x.started_at, x.duration_ms, x.relay_id, x.http_status, x.outcome, x.error
FROM json_to_recordset($1::json) AS x(outbox_id bigint, attempt integer, started_at timestamptz,
       duration_ms bigint, relay_id text, http_status integer, outcome text, error text)
