-- same as sqlite/sql/record_pair.sql, placeholders aside
INSERT INTO digis (subscription_id, person_id, external_id, synced_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (subscription_id, person_id) DO UPDATE
SET external_id = excluded.external_id, synced_at = excluded.synced_at
