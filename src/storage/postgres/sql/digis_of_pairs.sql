-- The digis rows of claimed pairs, given as one JSON array of {subscription_id, person_id} read with json_to_recordset (SQLite: json_each).
SELECT subscription_id, person_id, external_id, synced_at FROM digis
WHERE (subscription_id, person_id) IN
      (SELECT subscription_id, person_id FROM json_to_recordset($1::json) AS x(subscription_id bigint, person_id bigint))
