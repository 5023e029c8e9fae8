-- No NOTIFY when a save queues nobody (issue 28, docs/decisions/0063). The outbox's statement
-- trigger `digis_outbox_notify` wakes the relays after every INSERT statement on digis_outbox,
-- also one that inserted no row, and most saves insert none: an ACTIVE subscription saved
-- again (a payment moving max_end, a nightly re-save) names pairs that are in `digis` or
-- already open. Each such NOTIFY woke every relay for a claim that found nothing, and at commit
-- PostgreSQL serialises all notifying transactions of the cluster on one lock: the host's
-- concurrent small saves waited on each other for nothing.
--
-- Both entry points now check first and run their INSERT only with something to insert. The
-- rule, the rows queued, their order and the count returned are 0017's (set) and 0006's (one
-- pair): a pair is queued unless Digis has it (a `digis` row or a `sent` outbox row) or a row
-- of it is open; NULL ids name nobody; a pair named twice is queued once (the one-open index's
-- ON CONFLICT DO NOTHING skips the second, which arrives next to the first). The trigger stays:
-- every other INSERT into the outbox (a resend, a reconcile, a host's own) still notifies, and a
-- save that races another for the same pair may still notify once for the row the other queued.
--
-- The set-based one keeps 0017's shape: the arrays unnested in the select list (a streaming
-- ProjectSet, no tuplestore), the checks before anything else. The survivors are sorted once in
-- a subquery and gathered into two arrays by one aggregate pass, so the pairs stay aligned and in
-- (subscription, person) order, the lock order concurrent bulk saves share.
--
-- Replacements of the functions' bodies: their signatures, and the adapters that call them, stay.
-- So compatible_from and claim_protocol stay.
CREATE OR REPLACE FUNCTION digis_enqueue(sub_ids BIGINT[], per_ids BIGINT[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    new_subs BIGINT[];
    new_pers BIGINT[];
    queued integer;
BEGIN
    IF coalesce(cardinality(sub_ids), 0) = 0 THEN
        RETURN 0;
    END IF;
    SELECT array_agg(q.sub_id), array_agg(q.per_id) INTO new_subs, new_pers
    FROM (SELECT p.sub_id, p.per_id
          FROM (SELECT unnest(sub_ids) AS sub_id, unnest(per_ids) AS per_id) p
          WHERE p.sub_id IS NOT NULL AND p.per_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM digis d
                            WHERE d.subscription_id = p.sub_id AND d.person_id = p.per_id)
            AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                            WHERE o.subscription_id = p.sub_id AND o.person_id = p.per_id
                              AND o.state IN ('pending', 'sending', 'sent'))
          ORDER BY p.sub_id, p.per_id) q;
    IF new_subs IS NULL THEN
        RETURN 0;
    END IF;
    INSERT INTO digis_outbox (subscription_id, person_id)
    SELECT unnest(new_subs), unnest(new_pers)
    ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING;
    GET DIAGNOSTICS queued = ROW_COUNT;
    RETURN queued;
END;
$$;

CREATE OR REPLACE FUNCTION digis_enqueue(sub_id BIGINT, per_id BIGINT) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM digis d
               WHERE d.subscription_id = sub_id AND d.person_id = per_id)
       OR EXISTS (SELECT 1 FROM digis_outbox o
                  WHERE o.subscription_id = sub_id AND o.person_id = per_id
                    AND o.state IN ('pending', 'sending', 'sent')) THEN
        RETURN false;
    END IF;
    INSERT INTO digis_outbox (subscription_id, person_id)
    VALUES (sub_id, per_id)
    ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING;
    RETURN FOUND;
END;
$$;
