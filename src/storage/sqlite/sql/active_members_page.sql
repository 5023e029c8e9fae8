-- After member_select.sql; same as postgres/sql/active_members_page.sql, placeholders aside.
WHERE subscription_status = 'ACTIVE' AND (subscription_id, person_id) > (?1, ?2)
ORDER BY subscription_id, person_id
LIMIT ?3
