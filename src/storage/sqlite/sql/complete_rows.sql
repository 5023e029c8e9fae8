-- A group of completions in one UPDATE, each row only while its claim token holds; the group is one JSON array read with json_each and ->> (PostgreSQL: json_to_recordset), MAX where PostgreSQL has GREATEST. The unary + on o.state keeps SQLite from scanning every sending row per JSON row: the rows are found by id.
UPDATE digis_outbox AS o SET
       state = x.state,
       next_attempt_at = COALESCE(x.next_at, o.next_attempt_at),
       attempts = CASE WHEN x.refund THEN MAX(o.attempts - 1, 0) ELSE o.attempts END,
       sent_at = CASE WHEN x.sent THEN ?1 ELSE o.sent_at END,
       external_id = CASE WHEN x.sent THEN x.external_id ELSE o.external_id END,
       reason = COALESCE(x.reason, o.reason),
       last_http_status = x.http_status, last_error = x.error,
       fail_field = CASE WHEN x.failed THEN x.fail_field ELSE o.fail_field END,
       fail_rule = CASE WHEN x.failed THEN x.fail_rule ELSE o.fail_rule END,
       locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = ?1
FROM (SELECT value ->> 'id' AS id, value ->> 'token' AS token, value ->> 'state' AS state,
             value ->> 'next_at' AS next_at, value ->> 'refund' AS refund, value ->> 'sent' AS sent,
             value ->> 'external_id' AS external_id, value ->> 'http_status' AS http_status,
             value ->> 'error' AS error, value ->> 'reason' AS reason, value ->> 'failed' AS failed,
             value ->> 'fail_field' AS fail_field, value ->> 'fail_rule' AS fail_rule
      FROM json_each(?2)) AS x
WHERE o.id = x.id AND +o.state = 'sending' AND o.claim_token = x.token
RETURNING id
