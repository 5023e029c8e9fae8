-- One row per statement (MAX for the attempt refund); PostgreSQL releases all rows at once through unnest (GREATEST).
UPDATE digis_outbox SET state = 'pending', next_attempt_at = ?1, attempts = MAX(attempts - 1, 0),
       locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = ?1
WHERE id = ?2 AND state = 'sending' AND claim_token = ?3
