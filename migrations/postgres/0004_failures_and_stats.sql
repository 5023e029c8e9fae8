-- Why a failed row failed, as the Failures view and `report failures` group it
-- (domain::FailureCause, written by complete with the failure). NULL in both: a row that failed
-- before these columns existed, or whose text was not the relay's; it groups as "other".
ALTER TABLE digis_outbox ADD COLUMN fail_field TEXT, ADD COLUMN fail_rule TEXT;
-- A failure group's rows, in id order: the members list, the dry run and the group retry read
-- one cause's failed rows only.
CREATE INDEX digis_outbox_failed_cause ON digis_outbox (fail_rule, fail_field, id)
    WHERE state = 'failed';
-- The Stats view counts attempts of one outcome in one hour or day: a range of this index,
-- counted without touching the table.
CREATE INDEX digis_attempt_outcome_started ON digis_attempt (outcome, started_at);
-- Save-to-sent delays of the last 30 days: a range of sent_at.
CREATE INDEX digis_outbox_sent_at ON digis_outbox (sent_at);
