-- States and ids come as JSON arrays (PostgreSQL: arrays). ?2 the `last_error` pattern of an unconfirmed answer, ?3 true: any id.
SELECT id FROM digis_outbox
WHERE state IN (SELECT value FROM json_each(?1)) AND last_error LIKE ?2
  AND (?3 OR id IN (SELECT value FROM json_each(?4)))
ORDER BY id
