-- Every held row at once through unnest of ids and tokens; SQLite runs one statement per row.
UPDATE digis_outbox o SET locked_until = $1
FROM unnest($2::bigint[], $3::text[]) AS x(id, token)
WHERE o.id = x.id AND o.state = 'sending' AND o.claim_token = x.token
