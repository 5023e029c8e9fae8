-- After member_select.sql; as sqlite/sql/members_of_subscription.sql, with m. columns and the optional person cast.
WHERE m.subscription_id = $1 AND ($2::bigint IS NULL OR m.person_id = $2)
ORDER BY m.person_id
