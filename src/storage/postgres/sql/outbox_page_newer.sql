-- After outbox_select.sql; same as sqlite/sql/outbox_page_newer.sql, placeholders aside. A missing cursor is bound as the widest bound, so the id range stays an index range.
WHERE o.id < $1 AND o.id > $2
ORDER BY o.id ASC
LIMIT $3
