-- After outbox_select.sql. The ids come as an array (SQLite: a JSON array).
WHERE o.id = ANY($1)
ORDER BY o.id
