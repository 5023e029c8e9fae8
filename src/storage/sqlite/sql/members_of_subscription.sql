-- After member_select.sql; same as postgres/sql/members_of_subscription.sql, placeholders aside.
WHERE subscription_id = ?1 AND (?2 IS NULL OR person_id = ?2)
ORDER BY person_id
