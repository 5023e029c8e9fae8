-- After outbox_select.sql; as sqlite/sql/outbox_of_card.sql, with card columns compared as text whatever the host typed them.
WHERE o.person_id IN (SELECT person_id FROM digis_member WHERE card_number::text = $1
                      UNION SELECT id FROM digis_person WHERE card_number::text = $1)
ORDER BY o.id
