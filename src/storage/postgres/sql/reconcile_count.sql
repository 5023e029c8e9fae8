-- What sync_reconcile.sql would queue now, counted with the same selection ($1: the states as an array; $2: the pairs to skip, read with json_to_recordset; SQLite: json_each).
SELECT COUNT(*) AS n FROM digis_member m
WHERE m.subscription_status = 'ACTIVE'
  AND NOT EXISTS (SELECT 1 FROM digis d
                  WHERE d.subscription_id = m.subscription_id AND d.person_id = m.person_id)
  AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                  WHERE o.subscription_id = m.subscription_id AND o.person_id = m.person_id
                    AND o.state = ANY($1))
  AND (m.subscription_id, m.person_id) NOT IN
      (SELECT subscription_id, person_id FROM json_to_recordset($2::json) AS x(subscription_id bigint, person_id bigint))
