-- Claims due rows through FOR UPDATE SKIP LOCKED CTEs so relays never share a row, one CTE per index (due pending rows through digis_outbox_due, expired leases among the few sending rows through digis_outbox_state_id since migration 0014 dropped the lease index; each locks at most $5 rows, the first $5 of both are claimed); SQLite relies on BEGIN IMMEDIATE instead. $6: the claim tokens this relay still holds (SQLite: a JSON array). $7: an expired lease is taken over only from a holder (another relay id, not stopped) whose heartbeat is older than this; NULL: none is taken over now (this relay got the database back less than a lease ago).
WITH due AS (
    SELECT id, next_attempt_at FROM digis_outbox
    WHERE state = 'pending' AND next_attempt_at <= $4
    ORDER BY next_attempt_at, id
    LIMIT $5
    FOR UPDATE SKIP LOCKED),
expired AS (
    SELECT id, next_attempt_at FROM digis_outbox e
    WHERE state = 'sending' AND locked_until < $4
      AND (claim_token IS NULL OR claim_token <> ALL($6))
      AND $7::timestamptz IS NOT NULL
      AND (e.locked_by = $1
           OR NOT EXISTS (SELECT 1 FROM digis_relay r
                          WHERE r.relay_id = e.locked_by AND r.state <> 'stopped'
                            AND r.heartbeat_at >= $7::timestamptz))
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
