-- After person_select.sql. Candidates whose "first last" (apostrophes removed, as search folds them) is LIKE ?1 (any ASCII case), or whose name holds anything outside printable ASCII (folded in Rust); PostgreSQL uses ILIKE and a regex for GLOB. Whole-number ids only, after ?2 in id order, at most ?3.
WHERE typeof(p.id) = 'integer' AND p.id > ?2
  AND (replace(replace(coalesce(CAST(p.first_name AS TEXT), '') || ' '
                       || coalesce(CAST(p.last_name AS TEXT), ''), '''', ''), '`', '')
         LIKE ?1 ESCAPE '\'
       OR coalesce(CAST(p.first_name AS TEXT), '') || coalesce(CAST(p.last_name AS TEXT), '')
         GLOB '*[^ -~]*')
ORDER BY p.id
LIMIT ?3
