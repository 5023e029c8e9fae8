-- The attempts of a group from one JSON array read with json_to_recordset (SQLite: json_each); only rows that still exist get one (the membership system may have deleted a row in flight, and its attempt would outlive it), each row locked FOR KEY SHARE: a row whose DELETE committed first is skipped (one in flight is waited for, then skipped), and a later DELETE waits for this commit and its trigger deletes these attempts with the row (migration 0020, no foreign key since; SQLite has one writer and keeps the key); the ids that got one are returned.
INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, http_status, outcome, error)
SELECT x.outbox_id, x.attempt, x.started_at, x.duration_ms, x.relay_id, x.http_status, x.outcome, x.error
FROM json_to_recordset($1::json) AS x(outbox_id bigint, attempt integer, started_at timestamptz,
       duration_ms bigint, relay_id text, http_status integer, outcome text, error text)
JOIN digis_outbox o ON o.id = x.outbox_id
FOR KEY SHARE OF o
RETURNING outbox_id
