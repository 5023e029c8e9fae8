-- Every held row at once, one JSON array of {id, token} read with json_each (PostgreSQL: json_to_recordset). (The unary + on o.state makes SQLite find the rows by id.)
UPDATE digis_outbox AS o SET locked_until = ?1
FROM (SELECT value ->> 'id' AS id, value ->> 'token' AS token FROM json_each(?2)) AS x
WHERE o.id = x.id AND +o.state = 'sending' AND o.claim_token = x.token
