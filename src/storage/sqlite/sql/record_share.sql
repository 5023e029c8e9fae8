-- same as postgres/sql/record_share.sql, placeholders aside. The relay's share of the request budget, in thousandths (NULL: no limit).
UPDATE digis_relay SET request_share_milli = ?2 WHERE relay_id = ?1
