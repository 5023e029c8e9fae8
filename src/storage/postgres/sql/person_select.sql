-- Start of every person read for search (the host adapter's digis_person): every column as the bytes of its text (an SQL_ASCII database stores any bytes), typed per row in decode. SQLite reads them as stored.
SELECT convert_to(p.id::text, e.enc) AS id,
       convert_to(p.first_name::text, e.enc) AS first_name,
       convert_to(p.last_name::text, e.enc) AS last_name,
       convert_to(p.email::text, e.enc) AS email,
       convert_to(p.mobile_country_code::text, e.enc) AS mobile_country_code,
       convert_to(p.mobile_number::text, e.enc) AS mobile_number,
       convert_to(p.card_number::text, e.enc) AS card_number,
       convert_to(p.country_alpha2::text, e.enc) AS country_alpha2
FROM digis_person p
CROSS JOIN (SELECT CASE WHEN getdatabaseencoding() = 'SQL_ASCII'
            THEN 'SQL_ASCII' ELSE 'UTF8' END::name AS enc) e
