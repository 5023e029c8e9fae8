-- same as sqlite/sql/sent_count.sql, placeholders aside. Rows sent in [$1, $2), through the sent_at index.
SELECT COUNT(*) AS n FROM digis_outbox WHERE sent_at >= $1 AND sent_at < $2
