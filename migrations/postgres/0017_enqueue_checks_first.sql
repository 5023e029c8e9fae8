-- The set-based enqueue checks the pairs before anything else (issue 28; docs/decisions/0049).
-- Same rule and same rows as 0012's: a pair is queued unless Digis has it (a `digis` row or a
-- `sent` outbox row) or a row of it is open; NULL ids name nobody; a pair named twice is queued
-- once; rows go in (subscription, person) order; no pairs, no INSERT (no NOTIFY). What changed
-- is the shape, found with EXPLAIN (ANALYZE, BUFFERS) of the host's bulk saves:
--
-- * The arrays are unnested in the select list (a streaming ProjectSet), not in FROM: a function
--   scan in FROM copies its rows into a tuplestore first, which spilled to a temporary file at
--   the default work_mem for a bulk save's pairs.
-- * No DISTINCT: 0012 made the pairs distinct before checking them, a hash of every pair of the
--   statement that spilled too, though a nightly re-save of ACTIVE subscriptions leaves few or
--   none to queue. A pair named twice now reaches the INSERT twice, next to each other after the
--   ORDER BY, and the one-open index's ON CONFLICT DO NOTHING skips the second: the arbiter's
--   check sees the row this statement just inserted.
--
-- A replacement of the function's body: its signature, the one-pair overload (0006) and the
-- adapters that call either stay. So compatible_from and claim_protocol stay.
CREATE OR REPLACE FUNCTION digis_enqueue(sub_ids BIGINT[], per_ids BIGINT[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    queued integer;
BEGIN
    IF coalesce(cardinality(sub_ids), 0) = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO digis_outbox (subscription_id, person_id)
    SELECT p.sub_id, p.per_id
    FROM (SELECT unnest(sub_ids) AS sub_id, unnest(per_ids) AS per_id) p
    WHERE p.sub_id IS NOT NULL AND p.per_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM digis d
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
