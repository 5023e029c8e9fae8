-- same as postgres/sql/circuit_open.sql but for the database's clock: strftime of 'now' plus ?1 ms, in the stored text format. Opens (or opens again) the circuit every relay obeys.
UPDATE digis_control SET
    circuit_open_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', (?1 / 1000.0) || ' seconds'),
    circuit_reason = ?2, circuit_opened_by = ?3, circuit_probe_by = NULL
WHERE id = 1
RETURNING circuit_open_until
