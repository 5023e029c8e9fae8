-- same as sqlite/sql/control.sql but for the database's clock: now()
SELECT paused, pause_reason, paused_by, paused_at, sync_requested_at,
    circuit_open_until, circuit_reason, circuit_opened_by, circuit_probe_by,
    now() AS db_now
FROM digis_control WHERE id = 1
