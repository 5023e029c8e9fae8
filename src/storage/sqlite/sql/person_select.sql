-- Start of every person read for search: the person row with its address country, values as stored (decode types each per row). PostgreSQL selects every column as the bytes of its text.
SELECT p.id AS id, p.first_name AS first_name, p.last_name AS last_name, p.email AS email,
       p.mobile_country_code AS mobile_country_code, p.mobile_number AS mobile_number,
       p.card_number AS card_number, a.country_alpha2 AS country_alpha2
FROM person p
LEFT JOIN address a ON a.person_id = p.id
