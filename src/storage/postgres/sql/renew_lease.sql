-- Every held row at once, one JSON array of {id, token} read with json_to_recordset (SQLite: json_each).
UPDATE digis_outbox o SET locked_until = $1
FROM json_to_recordset($2::json) AS x(id bigint, token text)
WHERE o.id = x.id AND o.state = 'sending' AND o.claim_token = x.token
