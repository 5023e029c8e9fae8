-- same as sqlite/sql/relays.sql, placeholders aside
SELECT relay_id, hostname, pid, version, started_at, heartbeat_at, state, detail, heartbeat_ms, request_rate_milli,
    request_share_milli, clock_offset_ms
FROM digis_relay ORDER BY heartbeat_at DESC
