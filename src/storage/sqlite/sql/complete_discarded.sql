-- same as postgres/sql/complete_discarded.sql, placeholders aside
UPDATE digis_outbox SET state = 'discarded', reason = ?2, last_http_status = ?3, last_error = ?4,
       locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = ?1
WHERE id = ?5 AND state = 'sending' AND claim_token = ?6
