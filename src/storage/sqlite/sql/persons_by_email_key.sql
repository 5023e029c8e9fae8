-- After person_select.sql, when digis_person_key is ready. The persons whose e-mail key is ?1 (trimmed, lower-cased), and those whose address holds anything outside printable ASCII (key '*', compared in Rust), through its index: the candidates of persons_by_email.sql. Whole-number ids only, after ?2 in id order, at most ?3.
WHERE p.id IN (SELECT k.person_id FROM digis_person_key k WHERE k.email IN (?1, '*'))
  AND typeof(p.id) = 'integer' AND p.id > ?2
ORDER BY p.id
LIMIT ?3
