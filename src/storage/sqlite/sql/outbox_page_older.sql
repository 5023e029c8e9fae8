-- After outbox_select.sql; same as postgres/sql/outbox_page_older.sql, placeholders aside. A missing cursor is bound as the widest bound, so the id range stays an index range.
WHERE o.id < ?1 AND o.id > ?2
ORDER BY o.id DESC
LIMIT ?3
