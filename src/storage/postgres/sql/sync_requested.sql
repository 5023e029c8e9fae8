-- same as sqlite/sql/sync_requested.sql but for the database's clock (now()). An open circuit becomes due at once: "sync now" probes it (one relay wins the probe).
UPDATE digis_control SET sync_requested_at = $1,
    circuit_open_until = CASE WHEN circuit_open_until IS NULL THEN NULL ELSE now() END
WHERE id = 1
