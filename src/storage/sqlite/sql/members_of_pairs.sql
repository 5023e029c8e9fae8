-- Members as stored, nothing cast (SQLite keeps any value, pairs as two JSON arrays zipped by position; decode types each one per row); PostgreSQL selects every column as bytes.
SELECT subscription_id, person_id, subscription_status, start_date, max_end, first_name,
       last_name, birth_date, sex, email, allow_email, allow_sms, mobile_country_code,
       mobile_number, card_number, unit_id, unit_name, street_address, postal_code,
       postal_city, country_alpha2
FROM digis_member
WHERE (subscription_id, person_id) IN
      (SELECT s.value, p.value FROM json_each(?1) s JOIN json_each(?2) p ON p.key = s.key)
