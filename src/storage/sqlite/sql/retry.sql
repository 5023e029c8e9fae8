-- Ids, retryable and open states come as JSON arrays (PostgreSQL: arrays). Unless ?5 (the operator
-- confirmed), a row in a state of ?6 whose last_error is an unconfirmed answer (?7) stays: it may have been sent.
UPDATE digis_outbox AS o SET state = 'pending', attempts = 0, next_attempt_at = ?1, reason = NULL,
       updated_at = ?1
WHERE o.id IN (SELECT value FROM json_each(?2))
  AND o.state IN (SELECT value FROM json_each(?3))
  AND NOT EXISTS (SELECT 1 FROM digis_outbox x
                  WHERE x.subscription_id = o.subscription_id AND x.person_id = o.person_id
                    AND x.id <> o.id AND x.state IN (SELECT value FROM json_each(?4)))
  AND (?5 OR NOT (o.state IN (SELECT value FROM json_each(?6))
                  AND COALESCE(o.last_error, '') LIKE ?7))
RETURNING id
