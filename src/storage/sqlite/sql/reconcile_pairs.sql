-- Start of reconcile_count.sql and sync_reconcile.sql, so the preview counts exactly the pairs the reconcile queues. PostgreSQL binds an array and reads the pairs with json_to_recordset.
-- The ACTIVE members with no digis row and no outbox row in the states ?1 (open or sent, as a
-- JSON array), less the pairs to skip (the sync log says sent): ?2, a JSON array of
-- {subscription_id, person_id}.
WITH pairs AS (
    SELECT m.subscription_id, m.person_id FROM digis_member m
    WHERE m.subscription_status = 'ACTIVE'
      AND NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = m.subscription_id AND d.person_id = m.person_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = m.subscription_id AND o.person_id = m.person_id
                        AND o.state IN (SELECT value FROM json_each(?1)))
      AND (m.subscription_id, m.person_id) NOT IN
          (SELECT value ->> 'subscription_id', value ->> 'person_id' FROM json_each(?2))
)
