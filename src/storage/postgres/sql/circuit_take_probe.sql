-- same as sqlite/sql/circuit_take_probe.sql but for the database's clock (now()). One relay wins the probe of a due circuit: the winner moves the time on by $1 ms, so the others find it open again (a concurrent UPDATE re-checks the WHERE on the winner's row and matches nothing).
UPDATE digis_control SET
    circuit_open_until = now() + make_interval(secs => $1::float8 / 1000),
    circuit_probe_by = $2
WHERE id = 1 AND circuit_open_until <= now()
