-- Before person_keys_rebuild.sql: no key of a person the new adapter no longer shows (its triggers on digis_person_key drop the person's grams); the others are replaced by the rebuild's upsert.
DELETE FROM digis_person_key
WHERE person_id NOT IN (SELECT p.id FROM digis_person p WHERE typeof(p.id) = 'integer')
