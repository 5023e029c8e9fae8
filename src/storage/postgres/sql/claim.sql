-- Claims due rows through FOR UPDATE SKIP LOCKED CTEs so relays never share a row, one CTE per index (due pending rows, expired leases; each locks at most $5 rows, the first $5 of both are claimed); SQLite relies on BEGIN IMMEDIATE instead. $6: the claim tokens this relay still holds (SQLite: a JSON array).
WITH due AS (
    SELECT id, next_attempt_at FROM digis_outbox
    WHERE state = 'pending' AND next_attempt_at <= $4
    ORDER BY next_attempt_at, id
    LIMIT $5
    FOR UPDATE SKIP LOCKED),
expired AS (
    SELECT id, next_attempt_at FROM digis_outbox
    WHERE state = 'sending' AND locked_until < $4
      AND (claim_token IS NULL OR claim_token <> ALL($6))
    ORDER BY next_attempt_at, id
    LIMIT $5
    FOR UPDATE SKIP LOCKED),
c AS (
    SELECT id FROM (SELECT * FROM due UNION ALL SELECT * FROM expired) x
    ORDER BY next_attempt_at, id
    LIMIT $5)
UPDATE digis_outbox o SET state = 'sending', locked_by = $1, locked_until = $2, claim_token = $3,
       attempts = o.attempts + 1, updated_at = $4
WHERE o.id = ANY(ARRAY(SELECT id FROM c))
RETURNING o.id
