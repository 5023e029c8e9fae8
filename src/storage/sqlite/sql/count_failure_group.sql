-- After failure_group.sql; same as postgres/sql/count_failure_group.sql. The dry run of a group retry.
SELECT COUNT(*) AS n FROM grp
