"""Set-based ledger checks: the same invariants, checked once per statement and commit.

Revision 0002 checked every transaction with its own deferred trigger call and probed the
entries index once per transaction; for a batch of a thousand transfers that was most of the
database's work. Now:

- after each INSERT into `ledger_transactions`, a statement trigger notes the new transaction
  ids in `ledger_commit_checks`;
- after each INSERT into `ledger_entries`, a statement trigger notes, per transaction, how many
  entries arrived and whether they net to zero per asset and phase, from the transition table
  alone (no index probes);
- that entries trigger also refuses, at once, entries for a transaction not created in the same
  database transaction or already given entries by an earlier statement (FH004);
- at COMMIT a deferred constraint trigger compares the notes of the whole database transaction:
  every new transaction has at least two entries (FH002) that balance (FH003). Then it clears
  the notes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DROP TRIGGER ledger_transactions_balanced ON ledger_transactions;
        DROP TRIGGER ledger_entries_written_once ON ledger_entries;
        DROP FUNCTION ledger_check_balanced();
        DROP FUNCTION ledger_entries_written_once();

        -- Notes taken during a database transaction; empty again once it commits.
        CREATE TABLE ledger_commit_checks (
            id              bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            txid            bigint  NOT NULL DEFAULT txid_current(),
            source          text    NOT NULL CHECK (source IN ('transactions', 'entries')),
            ledger_ids      text[]  NOT NULL,
            transaction_ids text[]  NOT NULL,
            entry_counts    bigint[],
            balanced        boolean[]
        );
        CREATE INDEX ledger_commit_checks_txid ON ledger_commit_checks (txid);

        CREATE FUNCTION ledger_note_transactions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO ledger_commit_checks (source, ledger_ids, transaction_ids)
            SELECT 'transactions', array_agg(ledger_id), array_agg(id) FROM new_transactions
            HAVING count(*) > 0;
            RETURN NULL;
        END $$;

        CREATE FUNCTION ledger_note_entries() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- Written once: every entry's transaction was created in this database
            -- transaction, and no earlier statement wrote entries for it.
            IF EXISTS (
                WITH mine AS (SELECT DISTINCT ledger_id AS l, transaction_id AS t
                                FROM new_entries),
                     noted AS (SELECT c.source, x.l, x.t
                                 FROM ledger_commit_checks c,
                                      unnest(c.ledger_ids, c.transaction_ids) AS x(l, t)
                                WHERE c.txid = txid_current())
                (SELECT l, t FROM mine
                 EXCEPT SELECT l, t FROM noted WHERE source = 'transactions')
                UNION ALL
                (SELECT l, t FROM mine
                 INTERSECT SELECT l, t FROM noted WHERE source = 'entries')
            ) THEN
                RAISE EXCEPTION 'entries can only be written together with their transaction'
                    USING ERRCODE = 'FH004';
            END IF;
            INSERT INTO ledger_commit_checks
                   (source, ledger_ids, transaction_ids, entry_counts, balanced)
            SELECT 'entries', array_agg(ledger_id), array_agg(transaction_id),
                   array_agg(n), array_agg(balanced)
              FROM (SELECT ledger_id, transaction_id, sum(n) AS n,
                           bool_and(net = 0) AS balanced
                      FROM (SELECT ledger_id, transaction_id, count(*) AS n,
                                   sum(CASE WHEN direction = 'debit' THEN amount
                                            ELSE -amount END) AS net
                              FROM new_entries
                             GROUP BY ledger_id, transaction_id, asset, phase) AS per_asset
                     GROUP BY ledger_id, transaction_id) AS per_transaction
            HAVING count(*) > 0;
            RETURN NULL;
        END $$;

        CREATE FUNCTION ledger_check_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            bad record;
        BEGIN
            -- The first note to fire checks every note of this database transaction.
            IF NOT EXISTS (SELECT 1 FROM ledger_commit_checks WHERE id = NEW.id) THEN
                RETURN NULL;
            END IF;
            -- One hash aggregate over this transaction's notes (a join here would be planned
            -- as a nested loop over unnested arrays).
            SELECT x.t AS id, coalesce(sum(x.n), 0) AS entries,
                   coalesce(sum(x.n), 0) >= 2 AS enough
              INTO bad
              FROM ledger_commit_checks c,
                   unnest(c.ledger_ids, c.transaction_ids, c.entry_counts, c.balanced)
                       AS x(l, t, n, b)
             WHERE c.txid = NEW.txid
             GROUP BY x.l, x.t
            HAVING bool_or(c.source = 'transactions')
               AND (coalesce(sum(x.n), 0) < 2 OR NOT coalesce(bool_and(x.b), true))
             LIMIT 1;
            IF FOUND THEN
                IF NOT bad.enough THEN
                    RAISE EXCEPTION 'ledger transaction % has % entries; at least 2 are required',
                        bad.id, bad.entries USING ERRCODE = 'FH002';
                END IF;
                RAISE EXCEPTION 'ledger transaction % does not balance per asset', bad.id
                    USING ERRCODE = 'FH003';
            END IF;
            DELETE FROM ledger_commit_checks WHERE txid = NEW.txid;
            RETURN NULL;
        END $$;

        CREATE TRIGGER ledger_transactions_noted AFTER INSERT ON ledger_transactions
            REFERENCING NEW TABLE AS new_transactions
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_note_transactions();
        CREATE TRIGGER ledger_entries_noted AFTER INSERT ON ledger_entries
            REFERENCING NEW TABLE AS new_entries
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_note_entries();
        CREATE CONSTRAINT TRIGGER ledger_commit_checks_pass
            AFTER INSERT ON ledger_commit_checks DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION ledger_check_at_commit();
        """
    )


def downgrade() -> None:
    raise NotImplementedError("the ledger's checks are not downgraded")
