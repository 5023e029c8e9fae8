-- Every held row at once through unnest (GREATEST for the attempt refund); SQLite runs one statement per row (MAX).
UPDATE digis_outbox o SET state = 'pending', next_attempt_at = $1,
       attempts = GREATEST(o.attempts - 1, 0), locked_by = NULL, locked_until = NULL,
       claim_token = NULL, updated_at = $1
FROM unnest($2::bigint[], $3::text[]) AS x(id, token)
WHERE o.id = x.id AND o.state = 'sending' AND o.claim_token = x.token
