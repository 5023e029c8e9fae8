-- Start of every member read: columns as stored, nothing cast (decode types each value per row). PostgreSQL selects every column as bytes.
SELECT subscription_id, person_id, subscription_status, start_date, max_end, first_name,
       last_name, birth_date, sex, email, allow_email, allow_sms, mobile_country_code,
       mobile_number, card_number, unit_id, unit_name, street_address, postal_code,
       postal_city, country_alpha2
FROM digis_member
