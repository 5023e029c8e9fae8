-- After person_select.sql. Candidates whose "first last" (apostrophes removed, as search folds them; in a name with accents, the letters of search::member::SQL_FOLDS replaced as deunicode does) is LIKE ?1 (any ASCII case), and every name holding a non-ASCII letter outside that list (folded in Rust); PostgreSQL uses ILIKE and regexes for GLOB. Whole-number ids only, after ?2 in id order, at most ?3.
WHERE typeof(p.id) = 'integer' AND p.id > ?2
  AND CASE WHEN coalesce(CAST(p.first_name AS TEXT), '') || coalesce(CAST(p.last_name AS TEXT), '') GLOB '*[^ -~]*'
      THEN coalesce(CAST(p.first_name AS TEXT), '') || coalesce(CAST(p.last_name AS TEXT), '') GLOB '*[^ -~åäöøæéüÅÄÖØÆÉÜ]*'
           OR replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(coalesce(CAST(p.first_name AS TEXT), '') || ' ' || coalesce(CAST(p.last_name AS TEXT), ''), '''', ''), '`', ''), 'å', 'a'), 'ä', 'a'), 'ö', 'o'), 'ø', 'o'), 'æ', 'ae'), 'é', 'e'), 'ü', 'u'), 'Å', 'A'), 'Ä', 'A'), 'Ö', 'O'), 'Ø', 'O'), 'Æ', 'AE'), 'É', 'E'), 'Ü', 'U') LIKE ?1 ESCAPE '\'
      ELSE replace(replace(coalesce(CAST(p.first_name AS TEXT), '') || ' ' || coalesce(CAST(p.last_name AS TEXT), ''), '''', ''), '`', '') LIKE ?1 ESCAPE '\'
      END
ORDER BY p.id
LIMIT ?3
