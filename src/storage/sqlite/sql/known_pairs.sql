-- Of the given pairs (one JSON array of {subscription_id, person_id}, read with json_each; PostgreSQL: json_to_recordset), those the database knows were delivered: a `digis` row or a sent outbox row (state bound as ?2).
SELECT j.value ->> 'subscription_id' AS subscription_id, j.value ->> 'person_id' AS person_id
FROM json_each(?1) j
WHERE EXISTS (SELECT 1 FROM digis d
              WHERE d.subscription_id = j.value ->> 'subscription_id'
                AND d.person_id = j.value ->> 'person_id')
   OR EXISTS (SELECT 1 FROM digis_outbox o
              WHERE o.subscription_id = j.value ->> 'subscription_id'
                AND o.person_id = j.value ->> 'person_id'
                AND o.state = ?2)
