-- The ids come as an array (SQLite: a JSON array).
INSERT INTO digis_event (at, actor, action, outbox_id, subscription_id, person_id, detail)
SELECT $1, $2, $3, id, subscription_id, person_id, $4 FROM digis_outbox
WHERE id = ANY($5)
ORDER BY id
