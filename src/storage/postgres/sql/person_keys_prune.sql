-- Before person_keys_rebuild.sql: no key of a person the new adapter no longer shows; the others are replaced by the rebuild's upsert. SQLite: NOT IN (its triggers drop the grams; here they are a column).
DELETE FROM digis_person_key k
WHERE NOT EXISTS (SELECT 1 FROM digis_person p WHERE p.id = k.person_id)
