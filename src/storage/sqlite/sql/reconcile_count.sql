-- What sync_reconcile.sql would queue now, counted with the same selection and parameters (?1, ?2 as there: the states as a JSON array, the pairs to skip as a JSON array of objects).
SELECT COUNT(*) AS n FROM digis_member m
WHERE m.subscription_status = 'ACTIVE'
  AND NOT EXISTS (SELECT 1 FROM digis d
                  WHERE d.subscription_id = m.subscription_id AND d.person_id = m.person_id)
  AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                  WHERE o.subscription_id = m.subscription_id AND o.person_id = m.person_id
                    AND o.state IN (SELECT value FROM json_each(?1)))
  AND (m.subscription_id, m.person_id) NOT IN
      (SELECT value ->> 'subscription_id', value ->> 'person_id' FROM json_each(?2))
