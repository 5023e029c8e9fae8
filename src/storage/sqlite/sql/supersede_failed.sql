-- Same as postgres/sql/supersede_failed.sql in what it changes; SQLite has one writer at a time, so nothing is locked by another transaction and nothing needs skipping.
-- The failed rows of pairs Digis accepted in this completion become discarded (issue 25: the
-- fix lists shrink): every failed row of the pair older than the sent row, with the reason
-- that names it. One JSON array of {subscription_id, person_id, sent_id, reason}; ?3 the
-- failed state, ?4 the discarded state (OutboxState's words). The unary + on o.state keeps
-- SQLite from scanning every failed row per JSON row: the rows are found by pair
-- (digis_outbox_pair).
UPDATE digis_outbox AS o SET state = ?4, reason = x.reason, updated_at = ?1
FROM (SELECT value ->> 'subscription_id' AS subscription_id, value ->> 'person_id' AS person_id,
             value ->> 'sent_id' AS sent_id, value ->> 'reason' AS reason
      FROM json_each(?2)) AS x
WHERE o.subscription_id = x.subscription_id AND o.person_id = x.person_id
  AND +o.state = ?3 AND o.id < x.sent_id
RETURNING id
