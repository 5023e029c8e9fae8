-- A group of completions in one statement of data-modifying WITHs (SQLite has none: it runs complete_rows, record_pairs, record_attempts and supersede_failed one after another, and never this file); $1 now, $2 one JSON array read with json_to_recordset, $3 the failed state, $4 the discarded state.
-- What it does is what those four do in one transaction, and each part says so below. The
-- parts see one snapshot: a row `done` updated is still `sending` to its siblings, and a lock
-- taken on it again in this statement would skip it, so the rows whose claim held (locked by
-- the UPDATE already) are never locked again, and only the others are locked FOR KEY SHARE.
WITH x AS (
    SELECT * FROM json_to_recordset($2::json) AS x(id bigint, token text, state text,
        next_at timestamptz, refund boolean, sent boolean, external_id text, http_status integer,
        error text, reason text, failed boolean, fail_field text, fail_rule text,
        subscription_id bigint, person_id bigint, attempt integer, started_at timestamptz,
        duration_ms bigint, relay_id text, outcome text, stale_outcome text, superseded text)
), done AS (
    -- complete_rows.sql: each row only while its claim token holds.
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
    FROM x
    WHERE o.id = x.id AND o.state = 'sending' AND o.claim_token = x.token
    RETURNING o.id
), lost AS (
    -- A lost claim's row that still exists, held FOR KEY SHARE as record_attempts.sql holds
    -- it: a DELETE committed meanwhile skips it instead of failing the attempt's foreign key.
    SELECT o.id FROM x JOIN digis_outbox o ON o.id = x.id
    WHERE NOT EXISTS (SELECT 1 FROM done WHERE done.id = x.id)
    FOR KEY SHARE OF o
), attempts AS (
    -- record_attempts.sql: every attempt of a row that exists, stale where the claim was lost.
    INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, http_status, outcome, error)
    SELECT x.id, x.attempt, x.started_at, x.duration_ms, x.relay_id, x.http_status,
           CASE WHEN done.id IS NULL THEN x.stale_outcome ELSE x.outcome END, x.error
    FROM x LEFT JOIN done ON done.id = x.id
    WHERE done.id IS NOT NULL OR x.id IN (SELECT id FROM lost)
    RETURNING outbox_id
), accepted AS (
    -- The pairs Digis accepted: rows sent now, and rows the host deleted while in flight
    -- (neither done nor lost), or the next save would queue the pair and Digis send again.
    SELECT x.id, x.subscription_id, x.person_id, x.external_id, x.superseded FROM x
    WHERE x.sent
      AND (x.id IN (SELECT id FROM done) OR x.id NOT IN (SELECT id FROM lost))
), pairs AS (
    -- record_pairs.sql.
    INSERT INTO digis (subscription_id, person_id, external_id, synced_at)
    SELECT a.subscription_id, a.person_id, a.external_id, $1 FROM accepted a
    ON CONFLICT (subscription_id, person_id) DO UPDATE
    SET external_id = excluded.external_id, synced_at = excluded.synced_at
), older AS (
    -- supersede_failed.sql: a failed row another transaction holds is skipped, never waited for.
    SELECT o.id, a.superseded AS reason FROM digis_outbox o
    JOIN accepted a ON o.subscription_id = a.subscription_id AND o.person_id = a.person_id
    WHERE o.state = $3 AND o.id < a.id
    FOR UPDATE OF o SKIP LOCKED
), superseded AS (
    UPDATE digis_outbox o SET state = $4, reason = older.reason, updated_at = $1
    FROM older
    WHERE o.id = older.id
)
-- The rows whose claim held (true) and those whose attempt was recorded as stale (false); a
-- row in neither was deleted.
SELECT id, true FROM done
UNION ALL
SELECT outbox_id, false FROM attempts WHERE outbox_id NOT IN (SELECT id FROM done)
