-- Never run: SQLite has no data-modifying WITH, so it completes a group with complete_rows, record_pairs, record_attempts and supersede_failed one after another (PostgreSQL does it in one statement, postgres/sql/complete_group.sql).
SELECT NULL WHERE 0
