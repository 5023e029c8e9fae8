-- Before person_keys_rebuild.sql: no key of a person the new adapter no longer shows.
DELETE FROM digis_person_key
