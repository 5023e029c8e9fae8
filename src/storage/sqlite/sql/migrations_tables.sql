-- Whether the relay's bookkeeping table and sqlx's default one exist, from sqlite_master; PostgreSQL uses to_regclass. {migrations} and {legacy} are filled in by storage::bookkeeping::statement.
SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{migrations}') AS own,
       EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{legacy}') AS legacy
