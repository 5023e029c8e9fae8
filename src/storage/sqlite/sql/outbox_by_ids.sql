-- After outbox_select.sql. The ids come as a JSON array (PostgreSQL: an array).
WHERE o.id IN (SELECT value FROM json_each(?1))
ORDER BY o.id
