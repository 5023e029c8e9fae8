-- Several relays behave as one client towards Digis (ARCHITECTURE.md, Delivery path).
--
-- The request budget (`max_requests_per_second`) is shared by the live relays: each records
-- the share it allows itself (thousandths of a request per second, like request_rate_milli),
-- so `status` and the dashboard show it. NULL: no limit, or a row of an older version.
ALTER TABLE digis_relay ADD COLUMN request_share_milli BIGINT;

-- The circuit is one for all relays: open while circuit_open_until is in the future, due for
-- its one probe once it has passed (the relay that wins the probe moves it on and names
-- itself in circuit_probe_by), closed when NULL.
ALTER TABLE digis_control ADD COLUMN circuit_open_until TIMESTAMPTZ;
ALTER TABLE digis_control ADD COLUMN circuit_reason TEXT;
ALTER TABLE digis_control ADD COLUMN circuit_opened_by TEXT;
ALTER TABLE digis_control ADD COLUMN circuit_probe_by TEXT;
