-- One row per statement, run for each held row in one transaction; PostgreSQL renews all rows at once through unnest.
UPDATE digis_outbox SET locked_until = ?1 WHERE id = ?2 AND state = 'sending' AND claim_token = ?3
