-- ?1 version, ?2 the superseded checksum recorded, ?3 this binary's; PostgreSQL numbers its parameters $N.
UPDATE {migrations} SET checksum = ?3 WHERE version = ?1 AND checksum = ?2
