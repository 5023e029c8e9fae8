-- same as sqlite/sql/circuit_open.sql but for the database's clock: now() plus $1 ms. Opens (or opens again) the circuit every relay obeys.
UPDATE digis_control SET
    circuit_open_until = now() + make_interval(secs => $1::float8 / 1000),
    circuit_reason = $2, circuit_opened_by = $3, circuit_probe_by = NULL
WHERE id = 1
RETURNING circuit_open_until
