-- Counts by state without a scan (issue 28; docs/decisions/0046-outbox-counts.md). The dashboard
-- counts every second, `status`, `/metrics` and `doctor` on demand; GROUP BY state read all of
-- digis_outbox (47.8 ms at a million rows, ~0.5 s at ten million).
--
-- digis_outbox_count holds the rows in each state but `pending`, kept by triggers, so it is
-- exact whoever writes the outbox (relays, operator commands, a person with a SQL shell) and
-- moves with the transaction that changed the rows. `pending` is left out on purpose: the
-- host's saves insert pending rows, and the relay must cost them as little as it can; the
-- counts read count pending rows live through the partial index digis_outbox_due.
-- SQLite has one writer, so the triggers update the counts in place.
--
-- Additive: an older relay beside a newer one writes through the same triggers, and its own
-- GROUP BY stays right. So compatible_from and claim_protocol stay.
CREATE TABLE digis_outbox_count (
    state TEXT PRIMARY KEY CHECK (state IN ('sending', 'sent', 'failed', 'discarded')),
    n     INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO digis_outbox_count (state, n)
SELECT s.state, (SELECT COUNT(*) FROM digis_outbox o WHERE o.state = s.state)
FROM (SELECT 'sending' AS state UNION ALL SELECT 'sent' UNION ALL SELECT 'failed'
      UNION ALL SELECT 'discarded') AS s;

-- An update or delete of a state the table does not hold ('pending') finds no row: no effect.
CREATE TRIGGER digis_outbox_count_insert AFTER INSERT ON digis_outbox
WHEN NEW.state <> 'pending'
BEGIN
    UPDATE digis_outbox_count SET n = n + 1 WHERE state = NEW.state;
END;

CREATE TRIGGER digis_outbox_count_delete AFTER DELETE ON digis_outbox
WHEN OLD.state <> 'pending'
BEGIN
    UPDATE digis_outbox_count SET n = n - 1 WHERE state = OLD.state;
END;

CREATE TRIGGER digis_outbox_count_update AFTER UPDATE OF state ON digis_outbox
WHEN OLD.state IS NOT NEW.state
BEGIN
    UPDATE digis_outbox_count SET n = n + CASE state WHEN NEW.state THEN 1 ELSE -1 END
    WHERE state IN (OLD.state, NEW.state);
END;
