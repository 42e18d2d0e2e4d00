"""Wallets, payments, the activity feed and the transactional outbox.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- One wallet per person. Money itself lives in the ledger: one liability account per
        -- currency (wallet_balances), opened on first use.
        CREATE TABLE wallets (
            id                text        PRIMARY KEY,
            user_id           text        NOT NULL UNIQUE REFERENCES users (id),
            home_currency     text        NOT NULL CHECK (home_currency ~ '^[A-Z]{3}$'),
            status            text        NOT NULL DEFAULT 'active'
                              CHECK (status IN ('active', 'closed')),
            payment_reference text        NOT NULL UNIQUE,
            created_at        timestamptz NOT NULL,
            closed_at         timestamptz,
            CHECK ((status = 'closed') = (closed_at IS NOT NULL))
        );

        CREATE TABLE wallet_balances (
            wallet_id         text        NOT NULL REFERENCES wallets (id),
            currency          text        NOT NULL,
            ledger_account_id text        NOT NULL UNIQUE,  -- the ledger's, by id (its PK has ledger_id)
            opened_at         timestamptz NOT NULL,
            PRIMARY KEY (wallet_id, currency)
        );

        -- Every money movement a person starts or receives. The ledger holds the amounts; this
        -- is what the movement was, its state and how it ended.
        CREATE TABLE payments (
            id                     text        PRIMARY KEY,
            kind                   text        NOT NULL CHECK (kind IN (
                                   'p2p', 'card_topup', 'bank_topup', 'withdrawal',
                                   'fx_conversion', 'request_payment', 'refund')),
            status                 text        NOT NULL CHECK (status IN (
                                   'requires_action', 'processing', 'completed', 'failed',
                                   'canceled', 'refunded')),
            wallet_id              text        NOT NULL REFERENCES wallets (id),
            counterparty_wallet_id text        REFERENCES wallets (id),
            amount                 numeric(39, 0) NOT NULL CHECK (amount > 0),
            currency               text        NOT NULL,
            fee                    numeric(39, 0) NOT NULL DEFAULT 0 CHECK (fee >= 0),
            note                   text        CHECK (length(note) <= 500),
            metadata               jsonb       NOT NULL DEFAULT '{}',
            ledger_transaction_id  text,
            hold_transaction_id    text,
            failure_code           text,
            failure_message        text,
            created_at             timestamptz NOT NULL,
            updated_at             timestamptz NOT NULL
        );
        CREATE INDEX payments_wallet ON payments (wallet_id, created_at DESC, id DESC);
        CREATE INDEX payments_counterparty ON payments (counterparty_wallet_id, created_at)
            WHERE counterparty_wallet_id IS NOT NULL;

        -- The feed a wallet shows: one line per wallet a payment touched (a P2P payment is an
        -- 'out' line for the payer and an 'in' line for the payee).
        CREATE TABLE wallet_activity (
            id           text        PRIMARY KEY,
            wallet_id    text        NOT NULL REFERENCES wallets (id),
            payment_id   text        NOT NULL REFERENCES payments (id),
            kind         text        NOT NULL,
            direction    text        NOT NULL CHECK (direction IN ('in', 'out')),
            amount       numeric(39, 0) NOT NULL CHECK (amount > 0),
            currency     text        NOT NULL,
            fee          numeric(39, 0) NOT NULL DEFAULT 0 CHECK (fee >= 0),
            counterparty text,
            note         text,
            status       text        NOT NULL,
            created_at   timestamptz NOT NULL,
            updated_at   timestamptz NOT NULL,
            UNIQUE (payment_id, wallet_id, direction)
        );
        CREATE INDEX wallet_activity_feed ON wallet_activity (wallet_id, created_at DESC, id DESC);

        -- The transactional outbox: events written in the transaction of the change they
        -- describe. Consumers read them in (xid, seq) order and only below the oldest
        -- transaction still running, so an event that commits late is never skipped.
        CREATE TABLE outbox_events (
            id          text        PRIMARY KEY,
            seq         bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
            xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
            type        text        NOT NULL,
            owner       text        NOT NULL,
            data        jsonb       NOT NULL,
            created_at  timestamptz NOT NULL
        );
        CREATE INDEX outbox_events_order ON outbox_events (xid, seq);
        CREATE INDEX outbox_events_owner ON outbox_events (owner, seq);

        -- Where each consumer of the outbox has got to.
        CREATE TABLE outbox_cursors (
            consumer    text        PRIMARY KEY,
            last_xid    xid8        NOT NULL DEFAULT '0',
            last_seq    bigint      NOT NULL DEFAULT 0,
            updated_at  timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE outbox_cursors, outbox_events, wallet_activity, payments, wallet_balances,"
        " wallets"
    )
