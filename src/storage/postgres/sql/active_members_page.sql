-- After member_select.sql; same as sqlite/sql/active_members_page.sql, placeholders and m. columns aside.
WHERE m.subscription_status = 'ACTIVE' AND (m.subscription_id, m.person_id) > ($1, $2)
ORDER BY m.subscription_id, m.person_id
LIMIT $3
