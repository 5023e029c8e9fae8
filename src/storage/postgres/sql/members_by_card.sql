-- After member_select.sql; as sqlite/sql/members_by_card.sql, with the card compared as text and m. columns.
WHERE m.card_number::text = $1
ORDER BY m.subscription_id, m.person_id
