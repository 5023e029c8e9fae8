-- same as postgres/sql/attempts.sql, placeholders aside
SELECT outbox_id, attempt, started_at, duration_ms, relay_id, http_status, outcome, error
FROM digis_attempt WHERE outbox_id = ?1 ORDER BY id
