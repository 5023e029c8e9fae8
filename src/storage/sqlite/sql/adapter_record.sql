-- The host adapter `migrate` last applied: the one row of digis_host_adapter (migration 0010); the same on postgres, the time's type aside.
SELECT source, checksum, applied_at FROM digis_host_adapter WHERE id = 1
