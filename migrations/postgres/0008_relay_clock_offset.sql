-- Each relay records how far its own clock is from the database's (database minus relay, in
-- milliseconds, measured at start and with every heartbeat), so `status`, `doctor`, the
-- dashboard and /metrics of any process can show it. Relays on hosts whose clocks disagree
-- all follow the database's clock for leases, due times and heartbeats.
-- NULL: a row written by an older version.
ALTER TABLE digis_relay ADD COLUMN clock_offset_ms BIGINT;
