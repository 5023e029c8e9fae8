-- After outbox_select.sql; same as postgres/sql/outbox_page_older_in_state.sql, placeholders aside. One state, read through the (state, id) index.
WHERE o.state = ?1 AND o.id < ?2 AND o.id > ?3
ORDER BY o.id DESC
LIMIT ?4
