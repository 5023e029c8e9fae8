-- Start of every member read: every column as the bytes of its text, typed per row in decode (SQLite reads them as stored). ORDER BY must name m. columns: the bare names are these aliases.
SELECT convert_to(subscription_id::text, e.enc) AS subscription_id,
       convert_to(person_id::text, e.enc) AS person_id,
       convert_to(subscription_status::text, e.enc) AS subscription_status,
       convert_to(start_date::text, e.enc) AS start_date,
       convert_to(max_end::text, e.enc) AS max_end,
       convert_to(first_name::text, e.enc) AS first_name,
       convert_to(last_name::text, e.enc) AS last_name,
       convert_to(birth_date::text, e.enc) AS birth_date,
       convert_to(sex::text, e.enc) AS sex,
       convert_to(email::text, e.enc) AS email,
       convert_to(allow_email::text, e.enc) AS allow_email,
       convert_to(allow_sms::text, e.enc) AS allow_sms,
       convert_to(mobile_country_code::text, e.enc) AS mobile_country_code,
       convert_to(mobile_number::text, e.enc) AS mobile_number,
       convert_to(card_number::text, e.enc) AS card_number,
       convert_to(unit_id::text, e.enc) AS unit_id,
       convert_to(unit_name::text, e.enc) AS unit_name,
       convert_to(street_address::text, e.enc) AS street_address,
       convert_to(postal_code::text, e.enc) AS postal_code,
       convert_to(postal_city::text, e.enc) AS postal_city,
       convert_to(country_alpha2::text, e.enc) AS country_alpha2
FROM digis_member m
CROSS JOIN (SELECT CASE WHEN getdatabaseencoding() = 'SQL_ASCII'
            THEN 'SQL_ASCII' ELSE 'UTF8' END::name AS enc) e
