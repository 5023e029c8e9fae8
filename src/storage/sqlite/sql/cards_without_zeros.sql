-- After person_select.sql. The persons whose card differs from ?1 only in leading zeros (a card typed without them), for search's "did you mean"; never ?1 itself. At most five.
WHERE ltrim(CAST(p.card_number AS TEXT), '0') = ltrim(?1, '0')
  AND CAST(p.card_number AS TEXT) <> ?1
ORDER BY p.id
LIMIT 5
