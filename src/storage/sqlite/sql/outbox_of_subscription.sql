-- After outbox_select.sql; same as postgres/sql/outbox_of_subscription.sql, placeholders aside.
WHERE o.subscription_id = ?1
ORDER BY o.id
