-- Records the host adapter `migrate` applied (?1 its source, ?2 its SHA-384 in hex, ?3 when), replacing the one row; as postgres/sql/adapter_record_save.sql, placeholders aside.
INSERT INTO digis_host_adapter (id, source, checksum, applied_at) VALUES (1, ?1, ?2, ?3)
ON CONFLICT (id) DO UPDATE SET source = excluded.source, checksum = excluded.checksum,
                               applied_at = excluded.applied_at
