-- Counts by state without a scan (issue 28; docs/decisions/0046-outbox-counts.md). The dashboard
-- counts every second, `status`, `/metrics` and `doctor` on demand; GROUP BY state read all of
-- digis_outbox (tens of ms at a million rows, hundreds at ten million).
--
-- digis_outbox_count holds the rows in each state but `pending`, kept by triggers, so it is
-- exact whoever writes the outbox (relays, operator commands, a person with a SQL shell) and
-- moves with the transaction that changed the rows. `pending` is left out on purpose: the
-- host's saves insert pending rows, and the relay must cost them as little as it can (the insert
-- trigger's WHEN skips them without calling a function); the counts read count pending rows
-- live through the partial index digis_outbox_due.
--
-- Several relays and the host write at once, and a count row updated in place would be locked
-- by each writer until its commit: every claim and completion would queue behind the others.
-- So the triggers only append what changed, one row per state a statement changed, to
-- digis_outbox_count_delta (no index, nothing to wait for), the counts read adds it up, and a
-- relay's heartbeat folds it into digis_outbox_count (fold_counts.sql) so it stays short.
--
-- Additive: an older relay beside a newer one writes through the same triggers, and its own
-- GROUP BY stays right. So compatible_from and claim_protocol stay.
CREATE TABLE digis_outbox_count (
    state TEXT PRIMARY KEY CHECK (state IN ('sending', 'sent', 'failed', 'discarded')),
    n     BIGINT NOT NULL
);
CREATE TABLE digis_outbox_count_delta (
    state TEXT NOT NULL,
    n     BIGINT NOT NULL
);

-- No write may slip between the count below and the triggers taking over (the lock is held
-- until this migration commits).
LOCK TABLE digis_outbox IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO digis_outbox_count (state, n)
SELECT s.state, (SELECT COUNT(*) FROM digis_outbox o WHERE o.state = s.state)
FROM (VALUES ('sending'), ('sent'), ('failed'), ('discarded')) AS s (state);

CREATE FUNCTION digis_outbox_count_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO digis_outbox_count_delta (state, n) VALUES (NEW.state, 1);
    RETURN NULL;
END;
$$;

-- Row by row, but only for rows inserted in another state than pending (a test's fixture, a
-- restore): the host's saves never call it.
CREATE TRIGGER digis_outbox_count_insert AFTER INSERT ON digis_outbox
FOR EACH ROW WHEN (NEW.state <> 'pending') EXECUTE FUNCTION digis_outbox_count_insert();

-- Once a statement: a claim or a completion group of a hundred rows appends a row or two. A
-- statement that changes no state (a lease renewal) appends nothing.
CREATE FUNCTION digis_outbox_count_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO digis_outbox_count_delta (state, n)
    SELECT state, SUM(n) FROM (
        SELECT state, 1 AS n FROM digis_outbox_count_new WHERE state <> 'pending'
        UNION ALL
        SELECT state, -1 AS n FROM digis_outbox_count_old WHERE state <> 'pending'
    ) AS c
    GROUP BY state HAVING SUM(n) <> 0;
    RETURN NULL;
END;
$$;

CREATE TRIGGER digis_outbox_count_update AFTER UPDATE ON digis_outbox
REFERENCING OLD TABLE AS digis_outbox_count_old NEW TABLE AS digis_outbox_count_new
FOR EACH STATEMENT EXECUTE FUNCTION digis_outbox_count_update();

CREATE FUNCTION digis_outbox_count_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO digis_outbox_count_delta (state, n)
    SELECT state, -COUNT(*) FROM digis_outbox_count_gone WHERE state <> 'pending' GROUP BY state;
    RETURN NULL;
END;
$$;

CREATE TRIGGER digis_outbox_count_delete AFTER DELETE ON digis_outbox
REFERENCING OLD TABLE AS digis_outbox_count_gone
FOR EACH STATEMENT EXECUTE FUNCTION digis_outbox_count_delete();

-- TRUNCATE fires no delete trigger.
CREATE FUNCTION digis_outbox_count_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM digis_outbox_count_delta;
    UPDATE digis_outbox_count SET n = 0;
    RETURN NULL;
END;
$$;

CREATE TRIGGER digis_outbox_count_truncate AFTER TRUNCATE ON digis_outbox
FOR EACH STATEMENT EXECUTE FUNCTION digis_outbox_count_truncate();
