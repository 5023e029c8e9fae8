-- Every (subscription, person) that names one of the persons (a JSON array; PostgreSQL: an array): users now (digis_member), outbox rows and digis rows.
SELECT subscription_id, person_id FROM digis_member
 WHERE person_id IN (SELECT value FROM json_each(?1))
UNION
SELECT subscription_id, person_id FROM digis_outbox
 WHERE person_id IN (SELECT value FROM json_each(?1))
UNION
SELECT subscription_id, person_id FROM digis
 WHERE person_id IN (SELECT value FROM json_each(?1))
ORDER BY 1, 2
