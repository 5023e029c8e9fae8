-- The attempts each row has on record, for the number of its next one (a retry resets the
-- row's `attempts`, the budget; the numbers go on). The ids come as a JSON array (PostgreSQL: an array).
SELECT outbox_id, COUNT(*) AS n
FROM digis_attempt
WHERE outbox_id IN (SELECT value FROM json_each(?1))
GROUP BY outbox_id
