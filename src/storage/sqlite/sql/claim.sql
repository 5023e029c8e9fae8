-- Claims due rows in one UPDATE inside BEGIN IMMEDIATE (one writer at a time); PostgreSQL uses FOR UPDATE SKIP LOCKED CTEs. One ordered subquery per partial index (due pending rows, expired leases; INDEXED BY, as SQLite's planner without statistics prefers the state index and sorts the whole backlog on every claim). ?6: the claim tokens this relay still holds, as a JSON array (PostgreSQL: an array). ?7: an expired lease is taken over only from a holder (another relay id, not stopped) whose heartbeat is older than this; NULL: none is taken over now (this relay got the database back less than a lease ago).
UPDATE digis_outbox SET state = 'sending', locked_by = ?1, locked_until = ?2, claim_token = ?3,
       attempts = attempts + 1, updated_at = ?4
WHERE id IN (SELECT id FROM (
                 SELECT * FROM (SELECT id, next_attempt_at FROM digis_outbox INDEXED BY digis_outbox_due
                                WHERE state = 'pending' AND next_attempt_at <= ?4
                                ORDER BY next_attempt_at, id LIMIT ?5)
                 UNION ALL
                 SELECT * FROM (SELECT id, next_attempt_at FROM digis_outbox AS e INDEXED BY digis_outbox_lease
                                WHERE state = 'sending' AND locked_until < ?4
                                  AND (claim_token IS NULL
                                       OR claim_token NOT IN (SELECT value FROM json_each(?6)))
                                  AND ?7 IS NOT NULL
                                  AND (e.locked_by = ?1
                                       OR NOT EXISTS (SELECT 1 FROM digis_relay AS r
                                                      WHERE r.relay_id = e.locked_by AND r.state <> 'stopped'
                                                        AND r.heartbeat_at >= ?7))
                                ORDER BY next_attempt_at, id LIMIT ?5))
             ORDER BY next_attempt_at, id
             LIMIT ?5)
RETURNING id
