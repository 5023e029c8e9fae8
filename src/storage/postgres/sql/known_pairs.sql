-- Of the given pairs (one JSON array of {subscription_id, person_id}, read with json_to_recordset; SQLite: json_each), those the database knows were delivered: a `digis` row or a sent outbox row (state bound as $2).
SELECT x.subscription_id, x.person_id
FROM json_to_recordset($1::json) AS x(subscription_id bigint, person_id bigint)
WHERE EXISTS (SELECT 1 FROM digis d
              WHERE d.subscription_id = x.subscription_id AND d.person_id = x.person_id)
   OR EXISTS (SELECT 1 FROM digis_outbox o
              WHERE o.subscription_id = x.subscription_id AND o.person_id = x.person_id
                AND o.state = $2)
