-- The open states come as a JSON array (PostgreSQL: an array). Unless ?3 (the operator confirmed), a row
-- whose last_error is an unconfirmed answer (?4) stays: it may have been sent.
UPDATE digis_outbox AS o SET state = 'pending', attempts = 0, next_attempt_at = ?1, updated_at = ?1
WHERE o.state = 'failed'
  AND NOT EXISTS (SELECT 1 FROM digis_outbox x
                  WHERE x.subscription_id = o.subscription_id AND x.person_id = o.person_id
                    AND x.state IN (SELECT value FROM json_each(?2)))
  AND o.id = (SELECT MAX(y.id) FROM digis_outbox y
              WHERE y.subscription_id = o.subscription_id AND y.person_id = o.person_id
                AND y.state = 'failed')
  AND (?3 OR COALESCE(o.last_error, '') NOT LIKE ?4)
RETURNING id
