-- After member_select.sql; as postgres/sql/members_by_card.sql, which compares the card as text.
WHERE card_number = ?1
ORDER BY subscription_id, person_id
