-- After person_select.sql, when digis_person_key is ready and the typed word has a trigram (storage::name_grams): the persons whose grams hold every gram of $1, and those whose name is handed to Rust (grams {'*'}), through the GIN index on digis_person_key.grams: the candidates of persons_by_name.sql. SQLite keeps the grams as rows of digis_person_gram. Only keys of persons digis_person shows count towards the page: a key left behind (a TRUNCATE) would make the page short, which the caller reads as the end. After $2 in id order, at most $3.
WHERE p.id IN (SELECT k.person_id FROM digis_person_key k
               WHERE (k.grams @> $1::text[] OR k.grams @> ARRAY['*']) AND k.person_id > $2
                 AND EXISTS (SELECT 1 FROM digis_person x WHERE x.id = k.person_id)
               ORDER BY k.person_id
               LIMIT $3)
  AND p.id > $2
ORDER BY p.id
LIMIT $3
