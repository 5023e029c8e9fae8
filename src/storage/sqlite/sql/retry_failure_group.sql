-- After failure_group.sql; same as postgres/sql/retry_failure_group.sql, placeholders aside.
-- ?5 now. `state = 'failed'` again here: a row changed by someone else meanwhile is left alone.
UPDATE digis_outbox SET state = 'pending', attempts = 0, next_attempt_at = ?5, reason = NULL,
       updated_at = ?5
WHERE id IN (SELECT id FROM grp) AND state = 'failed'
RETURNING id
