-- Fix lists that shrink (issue 25 item 5): a failed row whose pair Digis accepted later, in a
-- newer outbox row, no longer needs a person. Since this release the completion that records
-- the acceptance discards such rows in its own transaction; this does the same, once, for rows
-- failed before it, with the same reason (`storage::texts::superseded_reason`), naming the
-- first sent row after the failure.
--
-- Only a later `sent` row counts. A pair that is merely in `digis` stays listed: the host
-- writes that table too, and it cannot say whether the acceptance came before the failure (a
-- resend that failed after an earlier acceptance still needs a person). A row like that is
-- cleared by `retry` (the relay then discards it as already synced) or `discard`.
--
-- Additive (ARCHITECTURE.md, Schema and protocol handshake): no object changes, and an older
-- relay beside a newer one still claims and completes by the same rules; it only leaves the
-- failed rows it could have superseded listed. So compatible_from and claim_protocol stay.
UPDATE digis_outbox
SET state = 'discarded',
    reason = 'superseded by outbox ' || (
        SELECT MIN(s.id) FROM digis_outbox AS s
        WHERE s.subscription_id = digis_outbox.subscription_id
          AND s.person_id = digis_outbox.person_id
          AND s.state = 'sent' AND s.id > digis_outbox.id
    ),
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE state = 'failed'
  AND EXISTS (
    SELECT 1 FROM digis_outbox AS s
    WHERE s.subscription_id = digis_outbox.subscription_id
      AND s.person_id = digis_outbox.person_id
      AND s.state = 'sent' AND s.id > digis_outbox.id
  );
