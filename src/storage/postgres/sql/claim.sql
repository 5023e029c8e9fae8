-- Claims due rows through a FOR UPDATE SKIP LOCKED CTE so relays never share a row; SQLite relies on BEGIN IMMEDIATE instead. $6: the claim tokens this relay still holds (SQLite: a JSON array).
WITH c AS (
    SELECT id FROM digis_outbox
    WHERE (state = 'pending' AND next_attempt_at <= $4)
       OR (state = 'sending' AND locked_until < $4
           AND (claim_token IS NULL OR claim_token <> ALL($6)))
    ORDER BY next_attempt_at, id
    LIMIT $5
    FOR UPDATE SKIP LOCKED)
UPDATE digis_outbox o SET state = 'sending', locked_by = $1, locked_until = $2, claim_token = $3,
       attempts = o.attempts + 1, updated_at = $4
FROM c WHERE o.id = c.id
RETURNING o.id
