-- Every held row at once, one JSON array of {id, token} read with json_to_recordset (SQLite: json_each). SKIP LOCKED: a row a completion group is committing is passed over, never waited for (the two statements lock rows in different orders, so waiting deadlocked; a row being completed needs no longer lease).
WITH held AS (
    SELECT o.id FROM digis_outbox o
    JOIN json_to_recordset($2::json) AS x(id bigint, token text)
      ON o.id = x.id AND o.claim_token = x.token
    WHERE o.state = 'sending'
    FOR UPDATE OF o SKIP LOCKED)
UPDATE digis_outbox o SET locked_until = $1
FROM held WHERE o.id = held.id
