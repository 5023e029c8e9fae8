-- When the adapter keeps no keys (search then filters every person): every key goes. SQLite: its triggers on digis_person_key drop the grams too.
DELETE FROM digis_person_key
