-- Start of reconcile_count.sql and sync_reconcile.sql, so the preview counts exactly the pairs the reconcile queues. SQLite reads JSON arrays with json_each.
-- The ACTIVE members with no digis row and no outbox row in the states $1 (open or sent, an
-- array), less the pairs to skip (the sync log says sent): $2, one JSON array read with
-- json_to_recordset.
WITH pairs AS (
    SELECT m.subscription_id, m.person_id FROM digis_member m
    WHERE m.subscription_status = 'ACTIVE'
      AND NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = m.subscription_id AND d.person_id = m.person_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = m.subscription_id AND o.person_id = m.person_id
                        AND o.state = ANY($1))
      AND (m.subscription_id, m.person_id) NOT IN
          (SELECT subscription_id, person_id
           FROM json_to_recordset($2::json) AS x(subscription_id bigint, person_id bigint))
)
