-- Start of every person read for search: the host adapter's digis_person (a person with their address country), values as stored (decode types each per row). PostgreSQL selects every column as the bytes of its text.
SELECT p.id AS id, p.first_name AS first_name, p.last_name AS last_name, p.email AS email,
       p.mobile_country_code AS mobile_country_code, p.mobile_number AS mobile_number,
       p.card_number AS card_number, p.country_alpha2 AS country_alpha2
FROM digis_person p
