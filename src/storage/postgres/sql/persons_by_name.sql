-- After person_select.sql. Candidates whose "first last" (apostrophes removed, as search folds them) is ILIKE $1, or whose name holds anything outside printable ASCII (folded in Rust); SQLite uses LIKE (ASCII case-insensitive) and GLOB. After $2 in id order, at most $3.
WHERE p.id > $2
  AND (replace(replace(coalesce(p.first_name::text, '') || ' ' || coalesce(p.last_name::text, ''),
                       '''', ''), '`', '')
         ILIKE $1 ESCAPE '\'
       OR coalesce(p.first_name::text, '') || coalesce(p.last_name::text, '') ~ '[^ -~]')
ORDER BY p.id
LIMIT $3
