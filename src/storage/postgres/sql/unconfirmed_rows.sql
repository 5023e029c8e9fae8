-- States and ids come as arrays (SQLite: JSON arrays). $2 the `last_error` pattern of an unconfirmed answer, $3 true: any id.
SELECT id FROM digis_outbox
WHERE state = ANY($1) AND last_error LIKE $2
  AND ($3 OR id = ANY($4))
ORDER BY id
