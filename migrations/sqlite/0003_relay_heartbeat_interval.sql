-- Each relay records its own heartbeat interval, so whoever reads the row (another host, a
-- dashboard with a different configuration) judges its liveness by the relay's own rhythm.
-- NULL: a row written by a version before this column.
ALTER TABLE digis_relay ADD COLUMN heartbeat_ms INTEGER;
