-- A group of completions in one UPDATE, each row only while its claim token holds; the group is one JSON array read with json_to_recordset (SQLite: json_each and ->>), GREATEST where SQLite has MAX.
UPDATE digis_outbox o SET
       state = x.state,
       next_attempt_at = COALESCE(x.next_at, o.next_attempt_at),
       attempts = CASE WHEN x.refund THEN GREATEST(o.attempts - 1, 0) ELSE o.attempts END,
       sent_at = CASE WHEN x.sent THEN $1 ELSE o.sent_at END,
       external_id = CASE WHEN x.sent THEN x.external_id ELSE o.external_id END,
       reason = COALESCE(x.reason, o.reason),
       last_http_status = x.http_status, last_error = x.error,
       fail_field = CASE WHEN x.failed THEN x.fail_field ELSE o.fail_field END,
       fail_rule = CASE WHEN x.failed THEN x.fail_rule ELSE o.fail_rule END,
       locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = $1
FROM json_to_recordset($2::json) AS x(id bigint, token text, state text, next_at timestamptz,
       refund boolean, sent boolean, external_id text, http_status integer, error text, reason text,
       failed boolean, fail_field text, fail_rule text)
WHERE o.id = x.id AND o.state = 'sending' AND o.claim_token = x.token
RETURNING o.id
