-- Ids, retryable and open states come as arrays (SQLite: JSON arrays).
UPDATE digis_outbox AS o SET state = 'pending', attempts = 0, next_attempt_at = $1, reason = NULL,
       updated_at = $1
WHERE o.id = ANY($2)
  AND o.state = ANY($3)
  AND NOT EXISTS (SELECT 1 FROM digis_outbox x
                  WHERE x.subscription_id = o.subscription_id AND x.person_id = o.person_id
                    AND x.id <> o.id AND x.state = ANY($4))
RETURNING o.id
