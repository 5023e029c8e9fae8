-- Same as postgres/sql/complete_released.sql, placeholders aside, with MAX where PostgreSQL has GREATEST.
UPDATE digis_outbox SET state = 'pending', next_attempt_at = ?2, attempts = MAX(attempts - 1, 0),
       last_http_status = ?3, last_error = ?4, locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = ?1
WHERE id = ?5 AND state = 'sending' AND claim_token = ?6
