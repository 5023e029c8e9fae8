-- Every (subscription, person) that names one of the persons (an array; SQLite: a JSON array): users now (digis_member), outbox rows and digis rows.
SELECT m.subscription_id::bigint AS subscription_id, m.person_id::bigint AS person_id
  FROM digis_member m WHERE m.person_id = ANY($1)
UNION
SELECT subscription_id, person_id FROM digis_outbox WHERE person_id = ANY($1)
UNION
SELECT subscription_id, person_id FROM digis WHERE person_id = ANY($1)
ORDER BY 1, 2
