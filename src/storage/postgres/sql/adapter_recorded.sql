-- The host adapter `migrate` last applied (digis_host_adapter, migration 0010), its time as ISO text; SQLite stores it as text already.
SELECT source, checksum, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS applied_at
FROM digis_host_adapter ORDER BY id LIMIT 1
