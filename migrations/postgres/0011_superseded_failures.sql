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
UPDATE digis_outbox AS f
SET state = 'discarded',
    reason = 'superseded by outbox ' || s.sent_id,
    updated_at = now()
FROM (
    SELECT o.id, (
        SELECT MIN(x.id) FROM digis_outbox AS x
        WHERE x.subscription_id = o.subscription_id AND x.person_id = o.person_id
          AND x.state = 'sent' AND x.id > o.id
    ) AS sent_id
    FROM digis_outbox AS o
    WHERE o.state = 'failed'
) AS s
WHERE f.id = s.id AND s.sent_id IS NOT NULL;
