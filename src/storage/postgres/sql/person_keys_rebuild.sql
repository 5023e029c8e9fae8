-- Every person's keys from digis_person, after the adapter that keeps them was applied (the rule of migration 0018's digis_person_changed, for all persons at once). Run after person_keys_clear.sql, in the adapter's transaction. One row a person (DISTINCT ON: the view may list one twice, as 0018's function says); a row without an id is no person.
INSERT INTO digis_person_key (person_id, phone, email)
SELECT DISTINCT ON (p.id) p.id,
       CASE WHEN length(n.d) >= 7 THEN right(n.d, 7) END,
       CASE WHEN p.email::text ~ '[^ -~]' THEN '*' ELSE lower(btrim(p.email::text)) END
FROM digis_person p
CROSS JOIN LATERAL (SELECT regexp_replace(p.mobile_number::text, '[^0-9]', '', 'g') AS d) n
WHERE p.id IS NOT NULL
ORDER BY p.id
ON CONFLICT (person_id) DO UPDATE SET phone = EXCLUDED.phone, email = EXCLUDED.email
