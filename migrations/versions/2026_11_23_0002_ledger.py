"""The double-entry ledger: assets, accounts, transactions, entries and their invariants.

The database itself guards the money rules, so no code path (or psql session) can break them:
- amounts are positive NUMERIC(39,0) (unsigned 128-bit fits);
- every transaction balances per asset and phase (deferred constraint trigger, checked at commit);
- an entry's asset is its account's asset (composite foreign key);
- account limits are CHECK constraints on the running totals;
- transactions and entries are append-only (UPDATE/DELETE/TRUNCATE raise), and the entries of a
  transaction are all written by one statement, so history can't be extended later either.

Every table carries `ledger_id`, the distribution column for Citus.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MAX_AMOUNT = 2**128 - 1


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE assets (
            code        text        PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{{1,15}}$'),
            scale       smallint    NOT NULL CHECK (scale BETWEEN 0 AND 18),
            name        text        NOT NULL,
            kind        text        NOT NULL CHECK (kind IN ('currency', 'custom')),
            created_at  timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE ledger_accounts (
            ledger_id       text          NOT NULL,
            id              text          NOT NULL,
            asset           text          NOT NULL REFERENCES assets (code),
            type            text          NOT NULL
                CHECK (type IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
            normal_side     text          NOT NULL CHECK (normal_side IN ('debit', 'credit')),
            name            text,
            external_ref    text,
            owner_ref       text,
            metadata        jsonb         NOT NULL DEFAULT '{{}}',
            status          text          NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'closed')),
            debits_must_not_exceed_credits boolean NOT NULL DEFAULT false,
            credits_must_not_exceed_debits boolean NOT NULL DEFAULT false,
            overdraft_limit numeric(39,0) NOT NULL DEFAULT 0
                CHECK (overdraft_limit BETWEEN 0 AND {MAX_AMOUNT}),
            debits_posted   numeric(39,0) NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
            credits_posted  numeric(39,0) NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
            debits_pending  numeric(39,0) NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
            credits_pending numeric(39,0) NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
            entry_count     bigint        NOT NULL DEFAULT 0,
            version         bigint        NOT NULL DEFAULT 0,
            created_at      timestamptz   NOT NULL DEFAULT now(),
            closed_at       timestamptz,
            PRIMARY KEY (ledger_id, id),
            UNIQUE (ledger_id, id, asset),
            UNIQUE (ledger_id, external_ref),
            CHECK (NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)),
            CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
            CONSTRAINT debits_within_limit CHECK (
                NOT debits_must_not_exceed_credits
                OR debits_posted + debits_pending <= credits_posted + overdraft_limit),
            CONSTRAINT credits_within_limit CHECK (
                NOT credits_must_not_exceed_debits
                OR credits_posted + credits_pending <= debits_posted + overdraft_limit)
        );
        CREATE INDEX ledger_accounts_id ON ledger_accounts (id);
        CREATE INDEX ledger_accounts_owner ON ledger_accounts (ledger_id, owner_ref)
            WHERE owner_ref IS NOT NULL;
        CREATE INDEX ledger_accounts_metadata ON ledger_accounts USING gin (metadata);

        CREATE TABLE ledger_transactions (
            ledger_id    text        NOT NULL,
            id           text        NOT NULL,
            kind         text        NOT NULL CHECK (kind IN (
                'standard', 'pending', 'post_pending', 'void_pending', 'expire_pending',
                'reversal')),
            pending_id   text,
            reverses_id  text,
            description  text,
            metadata     jsonb       NOT NULL DEFAULT '{{}}',
            effective_at timestamptz NOT NULL,
            expires_at   timestamptz,
            created_at   timestamptz NOT NULL,
            PRIMARY KEY (ledger_id, id),
            CHECK ((kind IN ('post_pending', 'void_pending', 'expire_pending'))
                   = (pending_id IS NOT NULL)),
            CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL)),
            CHECK (expires_at IS NULL OR kind = 'pending'),
            FOREIGN KEY (ledger_id, pending_id) REFERENCES ledger_transactions (ledger_id, id),
            FOREIGN KEY (ledger_id, reverses_id) REFERENCES ledger_transactions (ledger_id, id)
        );
        CREATE INDEX ledger_transactions_id ON ledger_transactions (id);
        CREATE INDEX ledger_transactions_created ON ledger_transactions (created_at, id);
        -- A pending transaction is resolved (posted, voided or expired) at most once, and a
        -- transaction is reversed at most once: the unique indexes make double spends impossible.
        CREATE UNIQUE INDEX ledger_transactions_resolves
            ON ledger_transactions (ledger_id, pending_id) WHERE pending_id IS NOT NULL;
        CREATE UNIQUE INDEX ledger_transactions_reverses
            ON ledger_transactions (ledger_id, reverses_id) WHERE reverses_id IS NOT NULL;

        CREATE TABLE ledger_entries (
            ledger_id            text          NOT NULL,
            id                   bigint        GENERATED ALWAYS AS IDENTITY,
            transaction_id       text          NOT NULL,
            account_id           text          NOT NULL,
            asset                text          NOT NULL,
            direction            text          NOT NULL CHECK (direction IN ('debit', 'credit')),
            phase                text          NOT NULL
                CHECK (phase IN ('posted', 'pending', 'release')),
            amount               numeric(39,0) NOT NULL CHECK (amount BETWEEN 1 AND {MAX_AMOUNT}),
            account_seq          bigint        NOT NULL CHECK (account_seq > 0),
            debits_posted_after  numeric(39,0) NOT NULL,
            credits_posted_after numeric(39,0) NOT NULL,
            debits_pending_after numeric(39,0) NOT NULL,
            credits_pending_after numeric(39,0) NOT NULL,
            posted_at            timestamptz   NOT NULL,
            PRIMARY KEY (ledger_id, id),
            UNIQUE (ledger_id, account_id, account_seq),
            FOREIGN KEY (ledger_id, transaction_id) REFERENCES ledger_transactions (ledger_id, id),
            FOREIGN KEY (ledger_id, account_id, asset)
                REFERENCES ledger_accounts (ledger_id, id, asset)
        );
        CREATE INDEX ledger_entries_transaction ON ledger_entries (ledger_id, transaction_id);
        CREATE INDEX ledger_entries_account_time
            ON ledger_entries (ledger_id, account_id, posted_at, account_seq);

        -- Holds still awaiting post, void or expiry: a small work index, not history.
        CREATE TABLE ledger_open_holds (
            ledger_id      text        NOT NULL,
            transaction_id text        NOT NULL,
            expires_at     timestamptz,
            PRIMARY KEY (ledger_id, transaction_id),
            FOREIGN KEY (ledger_id, transaction_id) REFERENCES ledger_transactions (ledger_id, id)
        );
        CREATE INDEX ledger_open_holds_expiry ON ledger_open_holds (expires_at)
            WHERE expires_at IS NOT NULL;

        CREATE FUNCTION ledger_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger history is append-only: % on % is not allowed',
                TG_OP, TG_TABLE_NAME USING ERRCODE = 'FH001';
        END $$;

        CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
            FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
        CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
        CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE
            ON ledger_transactions FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
        CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();

        -- Zero-sum per asset and phase, and at least two entries, checked when the database
        -- transaction commits (so entries may follow their transaction row).
        CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            entry_count bigint;
            unbalanced  boolean;
        BEGIN
            SELECT coalesce(sum(n), 0), coalesce(bool_or(net <> 0), false)
              INTO entry_count, unbalanced
              FROM (SELECT count(*) AS n,
                           sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) AS net
                      FROM ledger_entries
                     WHERE ledger_id = NEW.ledger_id AND transaction_id = NEW.id
                     GROUP BY asset, phase) AS per_asset;
            IF entry_count < 2 THEN
                RAISE EXCEPTION 'ledger transaction % has % entries; at least 2 are required',
                    NEW.id, entry_count USING ERRCODE = 'FH002';
            END IF;
            IF unbalanced THEN
                RAISE EXCEPTION 'ledger transaction % does not balance per asset', NEW.id
                    USING ERRCODE = 'FH003';
            END IF;
            RETURN NULL;
        END $$;

        CREATE CONSTRAINT TRIGGER ledger_transactions_balanced
            AFTER INSERT ON ledger_transactions DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

        -- All entries of a transaction arrive in one statement: entries can't be added to a
        -- transaction that already has some, which would rewrite history.
        CREATE FUNCTION ledger_entries_written_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (
                SELECT 1
                  FROM (SELECT DISTINCT ledger_id, transaction_id FROM new_entries) AS t
                  JOIN ledger_entries e USING (ledger_id, transaction_id)
                 WHERE e.id < (SELECT min(id) FROM new_entries)
            ) THEN
                RAISE EXCEPTION 'entries can only be written together with their transaction'
                    USING ERRCODE = 'FH004';
            END IF;
            RETURN NULL;
        END $$;

        CREATE TRIGGER ledger_entries_written_once AFTER INSERT ON ledger_entries
            REFERENCING NEW TABLE AS new_entries
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_written_once();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE ledger_open_holds;
        DROP TABLE ledger_entries;
        DROP TABLE ledger_transactions;
        DROP TABLE ledger_accounts;
        DROP TABLE assets;
        DROP FUNCTION ledger_entries_written_once();
        DROP FUNCTION ledger_check_balanced();
        DROP FUNCTION ledger_forbid_change();
        """
    )
