-- When the adapter keeps no keys (search then filters every person): every key goes. PostgreSQL: the grams are a column of the key.
DELETE FROM digis_person_key
