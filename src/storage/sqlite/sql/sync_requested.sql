-- same as postgres/sql/sync_requested.sql but for the database's clock (strftime of 'now'). An open circuit becomes due at once: "sync now" probes it (one relay wins the probe).
UPDATE digis_control SET sync_requested_at = ?1,
    circuit_open_until = CASE WHEN circuit_open_until IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END
WHERE id = 1
