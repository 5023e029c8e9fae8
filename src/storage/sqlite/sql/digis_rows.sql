-- same as postgres/sql/digis_rows.sql, placeholders aside
SELECT subscription_id, person_id, external_id, synced_at FROM digis
WHERE (?1 IS NULL OR subscription_id = ?1) AND (?2 IS NULL OR person_id = ?2)
ORDER BY subscription_id, person_id
