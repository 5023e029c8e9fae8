-- Why a failed row failed, as the Failures view and `report failures` group it
-- (domain::FailureCause, written by complete with the failure). NULL in both: a row that failed
-- before these columns existed, or whose text was not the relay's; it groups as "other".
ALTER TABLE digis_outbox ADD COLUMN fail_field TEXT;
ALTER TABLE digis_outbox ADD COLUMN fail_rule TEXT;
-- The Stats view counts attempts per hour and per day by outcome: a range of this index, read
-- without touching the table.
CREATE INDEX digis_attempt_started ON digis_attempt (started_at, outcome);
-- Save-to-sent delays of the last 30 days: a range of sent_at.
CREATE INDEX digis_outbox_sent_at ON digis_outbox (sent_at);
