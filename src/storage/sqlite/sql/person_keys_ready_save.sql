-- Whether digis_person_key holds every person (?1: 1 after a rebuild by an adapter that keeps the keys, 0 for one that does not).
UPDATE digis_person_key_state SET ready = ?1 WHERE id = 1
