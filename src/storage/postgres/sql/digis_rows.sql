-- Same as sqlite/sql/digis_rows.sql, placeholders aside, with optional parameters cast so PostgreSQL knows their type.
SELECT subscription_id, person_id, external_id, synced_at FROM digis
WHERE ($1::bigint IS NULL OR subscription_id = $1) AND ($2::bigint IS NULL OR person_id = $2)
ORDER BY subscription_id, person_id
