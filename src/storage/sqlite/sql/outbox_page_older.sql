-- After outbox_select.sql; same as postgres/sql/outbox_page_older.sql, placeholders aside.
WHERE (?1 IS NULL OR o.state = ?1) AND (?2 IS NULL OR o.id < ?2) AND (?3 IS NULL OR o.id > ?3)
ORDER BY o.id DESC
LIMIT ?4
