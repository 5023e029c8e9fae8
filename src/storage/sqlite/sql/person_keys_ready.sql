-- Whether search may narrow by digis_person_key (migration 0018); no row reads as not.
SELECT ready FROM digis_person_key_state WHERE id = 1
