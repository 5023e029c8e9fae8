-- The ids come as a JSON array (PostgreSQL: an array).
INSERT INTO digis_event (at, actor, action, outbox_id, subscription_id, person_id, detail)
SELECT ?1, ?2, ?3, id, subscription_id, person_id, ?4 FROM digis_outbox
WHERE id IN (SELECT value FROM json_each(?5))
ORDER BY id
