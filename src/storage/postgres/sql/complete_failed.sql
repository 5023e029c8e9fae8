-- Same as sqlite/sql/complete_failed.sql, placeholders aside, except `$2::text IS NULL`: PostgreSQL must see every parameter to type it.
-- $7 and $8 are the failure cause (domain::FailureCause::columns), for the Failures view.
UPDATE digis_outbox SET state = 'failed', last_http_status = $3, last_error = $4,
       fail_field = $7, fail_rule = $8,
       locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = $1
WHERE id = $5 AND state = 'sending' AND claim_token = $6 AND $2::text IS NULL
