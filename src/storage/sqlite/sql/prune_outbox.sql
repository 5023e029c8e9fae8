-- Same as postgres/sql/prune_outbox.sql, placeholders aside. The states are spelled to match the partial index digis_outbox_finished (a bound list could not use it); sql.rs tests that they are OutboxState::PRUNABLE.
DELETE FROM digis_outbox WHERE state IN ('sent', 'discarded') AND updated_at < ?1
