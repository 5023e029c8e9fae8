-- After person_select.sql. Candidates whose number, every non-digit removed (SQLite removes the separators one replace() each), contains the digits $1; after $2 in id order, at most $3.
WHERE p.id > $2
  AND strpos(regexp_replace(p.mobile_number::text, '[^0-9]', '', 'g'), $1) > 0
ORDER BY p.id
LIMIT $3
