-- ON CONFLICT must repeat the partial unique index's predicate word for word to infer it (a bound list cannot), so the open states are spelled there once; SQLite uses INSERT OR IGNORE. $3: the states that need nothing queued (open or sent); $4: the pairs to skip (the sync log says sent), one JSON array read with json_to_recordset.
INSERT INTO digis_outbox (subscription_id, person_id, reason, next_attempt_at, created_at, updated_at)
SELECT m.subscription_id, m.person_id, $2, $1, $1, $1 FROM digis_member m
WHERE m.subscription_status = 'ACTIVE'
  AND NOT EXISTS (SELECT 1 FROM digis d
                  WHERE d.subscription_id = m.subscription_id AND d.person_id = m.person_id)
  AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                  WHERE o.subscription_id = m.subscription_id AND o.person_id = m.person_id
                    AND o.state = ANY($3))
  AND (m.subscription_id, m.person_id) NOT IN
      (SELECT subscription_id, person_id FROM json_to_recordset($4::json) AS x(subscription_id bigint, person_id bigint))
ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING
