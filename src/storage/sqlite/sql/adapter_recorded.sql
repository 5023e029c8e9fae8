-- The host adapter `migrate` last applied (digis_host_adapter, migration 0010); its time is stored as text, PostgreSQL formats its timestamptz.
SELECT source, checksum, CAST(applied_at AS TEXT) AS applied_at
FROM digis_host_adapter ORDER BY id LIMIT 1
