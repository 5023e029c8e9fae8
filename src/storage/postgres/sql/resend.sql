-- ON CONFLICT must repeat the partial unique index's predicate word for word to infer it (a bound list cannot), so the open states are spelled there once; SQLite uses INSERT OR IGNORE.
INSERT INTO digis_outbox (subscription_id, person_id, resend, reason, next_attempt_at, created_at, updated_at)
SELECT m.subscription_id, m.person_id, $4, $5, $1, $1, $1 FROM digis_member m
WHERE m.subscription_id = $2 AND ($3::bigint IS NULL OR m.person_id = $3)
  AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                  WHERE o.subscription_id = m.subscription_id AND o.person_id = m.person_id
                    AND o.state = ANY($6))
ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING
RETURNING id
