-- Each relay records the request rate it allows itself (it halves on Digis's 429/503 and
-- climbs back slowly), so `status` and the dashboard of another process can show it. In
-- thousandths of a request per second, an integer so both databases read it back alike.
-- NULL: no limit (max_requests_per_second = 0), or a row written by an older version.
ALTER TABLE digis_relay ADD COLUMN request_rate_milli BIGINT;
