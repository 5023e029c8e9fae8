-- After reconcile_pairs.sql; ON CONFLICT must repeat the partial unique index's predicate word for word to infer it (a bound list cannot), so the open states are spelled there once; SQLite uses INSERT OR IGNORE. $3: the reason; $4: now.
INSERT INTO digis_outbox (subscription_id, person_id, reason, next_attempt_at, created_at, updated_at)
SELECT subscription_id, person_id, $3, $4, $4, $4 FROM pairs
ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING
