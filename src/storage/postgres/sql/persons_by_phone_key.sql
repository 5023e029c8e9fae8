-- After person_select.sql, when digis_person_key is ready. The persons whose phone key is $1 (the last seven digits of the national number searched for: every stored form that search matches ends in them), through its index. After $2 in id order, at most $3.
WHERE p.id IN (SELECT k.person_id FROM digis_person_key k WHERE k.phone = $1)
  AND p.id > $2
ORDER BY p.id
LIMIT $3
