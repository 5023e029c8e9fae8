-- Same as sqlite/sql/persons_by_card.sql, placeholders aside; the card is compared as text whatever the host typed it.
SELECT id FROM digis_person WHERE card_number::text = $1 ORDER BY id
