-- Whether digis_host_adapter (migration 0010) exists in the search path, by to_regclass; SQLite reads sqlite_master.
SELECT to_regclass('digis_host_adapter') IS NOT NULL AS present
