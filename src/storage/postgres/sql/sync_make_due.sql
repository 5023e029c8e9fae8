-- same as sqlite/sql/sync_make_due.sql, placeholders aside
UPDATE digis_outbox SET next_attempt_at = $1, updated_at = $1
WHERE state = 'pending' AND next_attempt_at > $1
