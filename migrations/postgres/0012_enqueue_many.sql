-- Set-based enqueue (issue 28; docs/decisions/0042): digis_enqueue(subscription_ids[],
-- person_ids[]) queues the pairs one statement concerns at once, so the host adapter's
-- statement-level triggers cost a bulk save one INSERT ... SELECT instead of one function call,
-- two lookups and one INSERT per row. An overload of the same name: the entry point stays
-- digis_enqueue, and digis_enqueue(subscription, person) (migration 0006) stays as it is for the
-- adapters that call it row by row.
--
-- The rule is the one-pair function's: a pair is queued unless Digis has it (a `digis` row or a
-- `sent` outbox row) or a row of it is open. A pair named twice is queued once (DISTINCT), in
-- (subscription, person) order. ON CONFLICT on the one-open index: two concurrent saves of one
-- pair must never fail the membership system's transaction. A pair with a NULL id names nobody
-- and is skipped. No pairs at all run no INSERT, so the outbox's NOTIFY does not wake the relays
-- for a save that concerns nobody. Returns how many rows were queued.
CREATE FUNCTION digis_enqueue(sub_ids BIGINT[], per_ids BIGINT[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    queued integer;
BEGIN
    IF coalesce(cardinality(sub_ids), 0) = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO digis_outbox (subscription_id, person_id)
    SELECT p.sub_id, p.per_id
    FROM (SELECT DISTINCT u.sub_id, u.per_id
          FROM unnest(sub_ids, per_ids) AS u(sub_id, per_id)
          WHERE u.sub_id IS NOT NULL AND u.per_id IS NOT NULL) p
    WHERE NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = p.sub_id AND d.person_id = p.per_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = p.sub_id AND o.person_id = p.per_id
                        AND o.state IN ('pending', 'sending', 'sent'))
    ORDER BY p.sub_id, p.per_id
    ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING;
    GET DIAGNOSTICS queued = ROW_COUNT;
    RETURN queued;
END;
$$;
