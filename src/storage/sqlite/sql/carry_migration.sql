-- ?1 version, ?2 the checksum to record (a superseded one becomes the current); the row is copied from sqlx's default table as it is otherwise. PostgreSQL numbers its parameters $N.
INSERT INTO {migrations} (version, description, installed_on, success, checksum, execution_time)
SELECT version, description, installed_on, success, ?2, execution_time FROM {legacy} WHERE version = ?1
ON CONFLICT (version) DO NOTHING
