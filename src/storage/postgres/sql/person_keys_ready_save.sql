-- Whether digis_person_key holds every person ($1: true after a rebuild by an adapter that keeps the keys, false for one that does not).
UPDATE digis_person_key_state SET ready = $1 WHERE id = 1
