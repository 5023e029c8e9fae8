-- The ids come as a JSON array (PostgreSQL: an array).
SELECT at, actor, action, outbox_id, subscription_id, person_id, detail FROM digis_event
WHERE outbox_id IN (SELECT value FROM json_each(?1))
ORDER BY id
