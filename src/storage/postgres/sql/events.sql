-- The ids come as an array (SQLite: a JSON array).
SELECT at, actor, action, outbox_id, subscription_id, person_id, detail FROM digis_event
WHERE outbox_id = ANY($1)
ORDER BY id
