-- Each relay records how far its own clock is from the database's (database minus relay, in
-- milliseconds, measured at start and with every heartbeat), so `status`, `doctor`, the
-- dashboard and /metrics of any process can show it. On SQLite the database's clock is the
-- host's own (SQLite is embedded), so this is 0 unless something is wrong with the relay.
-- NULL: a row written by an older version.
ALTER TABLE digis_relay ADD COLUMN clock_offset_ms INTEGER;
