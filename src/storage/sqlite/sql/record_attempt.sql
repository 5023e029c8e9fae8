-- same as postgres/sql/record_attempt.sql, placeholders aside
INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, http_status, outcome, error)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
