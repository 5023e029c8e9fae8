-- Every person's keys from digis_person, after the adapter that keeps them was applied (the rule of migration 0018's digis_person_changed, for all persons at once). Run after person_keys_prune.sql, in the adapter's transaction. One row a person (DISTINCT ON: the view may list one twice, as 0018's function says); a row without an id is no person. A key that is already right is not written again.
INSERT INTO digis_person_key (person_id, phone, email, grams)
SELECT DISTINCT ON (p.id) p.id,
       CASE WHEN length(n.d) >= 7 THEN right(n.d, 7) END,
       CASE WHEN p.email::text ~ '[^ -~]' THEN '*' ELSE lower(btrim(p.email::text)) END,
       digis_person_name_grams(digis_person_name_key(p.first_name::text, p.last_name::text))
FROM digis_person p
CROSS JOIN LATERAL (SELECT regexp_replace(p.mobile_number::text, '[^0-9]', '', 'g') AS d) n
WHERE p.id IS NOT NULL
ORDER BY p.id
ON CONFLICT (person_id) DO UPDATE SET phone = EXCLUDED.phone, email = EXCLUDED.email,
                                      grams = EXCLUDED.grams
    WHERE (digis_person_key.phone, digis_person_key.email, digis_person_key.grams)
          IS DISTINCT FROM (EXCLUDED.phone, EXCLUDED.email, EXCLUDED.grams)
