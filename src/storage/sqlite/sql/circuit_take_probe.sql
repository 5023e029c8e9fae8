-- same as postgres/sql/circuit_take_probe.sql but for the database's clock (strftime of 'now', text comparison of the fixed-width format). One relay wins the probe of a due circuit: the winner moves the time on by ?1 ms, so the others find it open again.
UPDATE digis_control SET
    circuit_open_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', (?1 / 1000.0) || ' seconds'),
    circuit_probe_by = ?2
WHERE id = 1 AND circuit_open_until IS NOT NULL AND circuit_open_until <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
