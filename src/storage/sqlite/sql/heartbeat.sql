-- same as postgres/sql/heartbeat.sql, placeholders aside
INSERT INTO digis_relay (relay_id, hostname, pid, version, started_at, heartbeat_at, state, detail, heartbeat_ms, request_rate_milli, clock_offset_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT (relay_id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
    version = excluded.version, started_at = excluded.started_at,
    heartbeat_at = excluded.heartbeat_at, state = excluded.state, detail = excluded.detail,
    heartbeat_ms = excluded.heartbeat_ms, request_rate_milli = excluded.request_rate_milli,
    clock_offset_ms = excluded.clock_offset_ms
