-- same as postgres/sql/persons_by_card.sql, placeholders aside
SELECT id FROM digis_person WHERE card_number = ?1 ORDER BY id
