-- same as postgres/sql/sent_delays.sql, placeholders aside. Saved (queued) and sent times of rows sent in [?1, ?2); every ?3-th id only, so the answer stays small however much was sent (ids are sequential, so the sample spreads over the whole range).
SELECT created_at, sent_at FROM digis_outbox
WHERE sent_at >= ?1 AND sent_at < ?2 AND id % ?3 = 0
