-- After outbox_select.sql; as sqlite/sql/outbox_page_newer.sql, with optional parameters cast so PostgreSQL knows their type.
WHERE ($1::text IS NULL OR o.state = $1) AND ($2::bigint IS NULL OR o.id < $2)
  AND ($3::bigint IS NULL OR o.id > $3)
ORDER BY o.id ASC
LIMIT $4
