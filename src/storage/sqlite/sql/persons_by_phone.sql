-- After person_select.sql. Candidates whose number, with payload::phone::SEPARATORS and '+' removed (a replace() each), contains the digits ?1; PostgreSQL removes every non-digit with regexp_replace. Whole-number ids only (SQLite keeps any value in an id column), after ?2 in id order, at most ?3.
WHERE typeof(p.id) = 'integer' AND p.id > ?2
  AND instr(replace(replace(replace(replace(replace(replace(replace(replace(
          CAST(p.mobile_number AS TEXT),
          ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '/', ''), char(160), ''), '+', ''),
        ?1) > 0
ORDER BY p.id
LIMIT ?3
