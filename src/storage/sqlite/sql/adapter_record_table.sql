-- Whether digis_host_adapter (migration 0010) exists, from sqlite_master; PostgreSQL uses to_regclass.
SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'digis_host_adapter') AS present
