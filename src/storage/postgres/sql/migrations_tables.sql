-- Whether the relay's bookkeeping table and sqlx's default one exist in the search path, by to_regclass; SQLite reads sqlite_master. {migrations} and {legacy} are filled in by storage::bookkeeping::statement.
SELECT to_regclass('{migrations}') IS NOT NULL AS own, to_regclass('{legacy}') IS NOT NULL AS legacy
