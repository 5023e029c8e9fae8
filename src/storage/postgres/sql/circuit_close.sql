-- same as sqlite/sql/circuit_close.sql. Digis answered: the circuit closes for every relay.
UPDATE digis_control SET circuit_open_until = NULL, circuit_reason = NULL,
    circuit_opened_by = NULL, circuit_probe_by = NULL
WHERE id = 1 AND circuit_open_until IS NOT NULL
