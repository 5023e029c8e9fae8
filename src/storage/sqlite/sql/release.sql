-- Gives held rows back at once (attempt refunded with MAX), the rows one JSON array of {id, token} read with json_each (PostgreSQL: json_to_recordset, GREATEST). (The unary + on o.state makes SQLite find the rows by id.)
UPDATE digis_outbox AS o SET state = 'pending', next_attempt_at = ?1, attempts = MAX(o.attempts - 1, 0),
       locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = ?1
FROM (SELECT value ->> 'id' AS id, value ->> 'token' AS token FROM json_each(?2)) AS x
WHERE o.id = x.id AND +o.state = 'sending' AND o.claim_token = x.token
