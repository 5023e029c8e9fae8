-- Same as sqlite/sql/subscription_status.sql, placeholders aside; the status is cast to text whatever the host typed it.
SELECT status::text FROM digis_subscription WHERE id = $1
