-- After person_select.sql. Candidates whose "first last" (apostrophes removed, as search folds them; in a name with accents, the letters of search::member::SQL_FOLDS replaced as deunicode does) is ILIKE $1, and every name holding a non-ASCII letter outside that list (folded in Rust); SQLite uses LIKE (ASCII case-insensitive) and GLOB. After $2 in id order, at most $3.
WHERE p.id > $2
  AND CASE WHEN coalesce(p.first_name::text, '') || coalesce(p.last_name::text, '') ~ '[^ -~]'
      THEN coalesce(p.first_name::text, '') || coalesce(p.last_name::text, '') ~ '[^ -~åäöøæéüÅÄÖØÆÉÜ]'
           OR replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(coalesce(p.first_name::text, '') || ' ' || coalesce(p.last_name::text, ''), '''', ''), '`', ''), 'å', 'a'), 'ä', 'a'), 'ö', 'o'), 'ø', 'o'), 'æ', 'ae'), 'é', 'e'), 'ü', 'u'), 'Å', 'A'), 'Ä', 'A'), 'Ö', 'O'), 'Ø', 'O'), 'Æ', 'AE'), 'É', 'E'), 'Ü', 'U') ILIKE $1 ESCAPE '\'
      ELSE replace(replace(coalesce(p.first_name::text, '') || ' ' || coalesce(p.last_name::text, ''), '''', ''), '`', '') ILIKE $1 ESCAPE '\'
      END
ORDER BY p.id
LIMIT $3
