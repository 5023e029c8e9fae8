-- After reconcile_pairs.sql; INSERT OR IGNORE against the open-row index (PostgreSQL names the partial index instead). ?3: the reason; ?4: now.
INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id, reason, next_attempt_at, created_at, updated_at)
SELECT subscription_id, person_id, ?3, ?4, ?4, ?4 FROM pairs
