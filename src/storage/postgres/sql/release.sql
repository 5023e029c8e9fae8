-- Gives held rows back at once (attempt refunded with GREATEST), the rows one JSON array of {id, token} read with json_to_recordset (SQLite: json_each, MAX).
UPDATE digis_outbox o SET state = 'pending', next_attempt_at = $1,
       attempts = GREATEST(o.attempts - 1, 0), locked_by = NULL, locked_until = NULL,
       claim_token = NULL, updated_at = $1
FROM json_to_recordset($2::json) AS x(id bigint, token text)
WHERE o.id = x.id AND o.state = 'sending' AND o.claim_token = x.token
