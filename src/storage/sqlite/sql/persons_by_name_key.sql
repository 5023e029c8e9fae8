-- After person_select.sql, when digis_person_key is ready and the typed word has a trigram (storage::name_grams): the persons holding every gram of ?1 (a JSON array) in digis_person_gram, and those whose name is handed to Rust (gram '*'), the candidates of persons_by_name.sql through the index. The gram with the fewest rows (counted up to 2,000) drives, in person order, each other gram a seek; PostgreSQL asks its GIN index for them all at once. Only keys of persons digis_person shows count towards the page: a key left behind (a host's REPLACE deletes with no trigger) would make the page short, which the caller reads as the end. Whole-number ids only, after ?2 in id order, at most ?3.
WHERE p.id IN (
    WITH grams(gram, n) AS MATERIALIZED (
        SELECT j.value,
               (SELECT count(*) FROM (SELECT 1 FROM digis_person_gram c
                                      WHERE c.gram = j.value LIMIT 2000))
        FROM json_each(?1) j
        ORDER BY 2, 1)
    SELECT g.person_id FROM digis_person_gram g
    WHERE g.gram = (SELECT s.gram FROM grams s ORDER BY s.n, s.gram LIMIT 1)
      AND g.person_id > ?2
      AND NOT EXISTS (SELECT 1 FROM grams r
                      WHERE NOT EXISTS (SELECT 1 FROM digis_person_gram o
                                        WHERE o.gram = r.gram AND o.person_id = g.person_id))
      AND EXISTS (SELECT 1 FROM digis_person x WHERE x.id = g.person_id AND typeof(x.id) = 'integer')
    UNION
    SELECT m.person_id FROM digis_person_gram m
    WHERE m.gram = '*' AND m.person_id > ?2
      AND EXISTS (SELECT 1 FROM digis_person x WHERE x.id = m.person_id AND typeof(x.id) = 'integer')
    ORDER BY 1
    LIMIT ?3)
  AND typeof(p.id) = 'integer' AND p.id > ?2
ORDER BY p.id
LIMIT ?3
