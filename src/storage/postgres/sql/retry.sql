-- Ids, retryable and open states come as arrays (SQLite: JSON arrays). Unless $5 (the operator
-- confirmed), a row in a state of $6 whose last_error is an unconfirmed answer ($7) stays: it may have been sent.
UPDATE digis_outbox AS o SET state = 'pending', attempts = 0, next_attempt_at = $1, reason = NULL,
       updated_at = $1
WHERE o.id = ANY($2)
  AND o.state = ANY($3)
  AND NOT EXISTS (SELECT 1 FROM digis_outbox x
                  WHERE x.subscription_id = o.subscription_id AND x.person_id = o.person_id
                    AND x.id <> o.id AND x.state = ANY($4))
  AND ($5 OR NOT (o.state = ANY($6) AND COALESCE(o.last_error, '') LIKE $7))
RETURNING o.id
