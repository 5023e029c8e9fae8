-- same as postgres/sql/oldest_due_pending.sql, placeholders aside
SELECT MIN(next_attempt_at) AS oldest FROM digis_outbox WHERE state = 'pending' AND next_attempt_at <= ?1
