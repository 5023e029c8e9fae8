-- Same as sqlite/sql/supersede_failed.sql in what it changes, except that a failed row another transaction holds is skipped (SKIP LOCKED), so a completion never waits for an operator's action and cannot deadlock with one.
-- The failed rows of pairs Digis accepted in this completion become discarded (issue 25: the
-- fix lists shrink): every failed row of the pair older than the sent row, with the reason
-- that names it. One JSON array of {subscription_id, person_id, sent_id, reason}; $3 the
-- failed state, $4 the discarded state (OutboxState's words). The completion already holds
-- its sending rows and the pairs' digis rows; waiting here for a failed row that, say, a
-- `discard` of several rows holds while it waits for another of this group's failed rows
-- would be a deadlock. A row skipped is one an operator is changing at this moment (retry,
-- discard): it leaves the failed state that way, or stays until someone acts on it.
WITH x AS (
    SELECT * FROM json_to_recordset($2::json)
        AS x(subscription_id bigint, person_id bigint, sent_id bigint, reason text)
), f AS (
    SELECT o.id, x.reason FROM digis_outbox o
    JOIN x ON o.subscription_id = x.subscription_id AND o.person_id = x.person_id
    WHERE o.state = $3 AND o.id < x.sent_id
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE digis_outbox o SET state = $4, reason = f.reason, updated_at = $1
FROM f
WHERE o.id = f.id
RETURNING o.id
