-- The digis rows of claimed pairs, given as one JSON array of {subscription_id, person_id} read with json_each (PostgreSQL: json_to_recordset).
SELECT subscription_id, person_id, external_id, synced_at FROM digis
WHERE (subscription_id, person_id) IN
      (SELECT value ->> 'subscription_id', value ->> 'person_id' FROM json_each(?1))
