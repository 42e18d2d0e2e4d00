"""Payment requests (by user, by link, by QR) and merchant QR codes.

A payment request asks for an amount in one currency. It is addressed to one wallet
(`payer_wallet_id`) or open to whoever holds its link or QR code (`token`, unguessable). It is
paid at most once: `paid_payment_id` is set in the transaction that moves the money, under a row
lock, and the CHECKs keep the status and its timestamps consistent. An open request past
`expires_at` reads as expired; no job needs to flip it. A wallet may also take a handle
(`wallet_handles`) so people can pay it as @name.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE payment_requests (
            id                  text        PRIMARY KEY,
            requester_wallet_id text        NOT NULL REFERENCES wallets (id),
            payer_wallet_id     text        REFERENCES wallets (id),
            amount              numeric(39, 0) NOT NULL CHECK (amount > 0),
            currency            text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            note                text        CHECK (length(note) <= 500),
            token               text        NOT NULL UNIQUE CHECK (length(token) BETWEEN 20 AND 64),
            status              text        NOT NULL DEFAULT 'open'
                                CHECK (status IN ('open', 'paid', 'canceled')),
            paid_payment_id     text        UNIQUE REFERENCES payments (id),
            paid_by_wallet_id   text        REFERENCES wallets (id),
            created_at          timestamptz NOT NULL,
            expires_at          timestamptz NOT NULL,
            paid_at             timestamptz,
            canceled_at         timestamptz,
            updated_at          timestamptz NOT NULL,
            CHECK (expires_at > created_at),
            CHECK (payer_wallet_id IS NULL OR payer_wallet_id <> requester_wallet_id),
            CHECK ((status = 'paid') = (paid_payment_id IS NOT NULL AND paid_at IS NOT NULL
                                        AND paid_by_wallet_id IS NOT NULL)),
            CHECK ((status = 'canceled') = (canceled_at IS NOT NULL))
        );
        CREATE INDEX payment_requests_requester
            ON payment_requests (requester_wallet_id, created_at DESC, id DESC);
        CREATE INDEX payment_requests_payer
            ON payment_requests (payer_wallet_id, created_at DESC, id DESC)
            WHERE payer_wallet_id IS NOT NULL;

        -- Handles people choose so others can pay them as @name without knowing their email
        -- or phone. One per wallet, stored lower-case; a freed handle can be taken again.
        CREATE TABLE wallet_handles (
            handle      text        PRIMARY KEY CHECK (handle ~ '^[a-z0-9_]{3,30}$'),
            wallet_id   text        NOT NULL UNIQUE REFERENCES wallets (id),
            created_at  timestamptz NOT NULL
        );

        -- Finding a recipient by phone number (P2P by phone); phones are not unique, so a
        -- number shared by several people resolves to no one.
        CREATE INDEX IF NOT EXISTS users_phone ON users (phone) WHERE phone IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS users_phone; DROP TABLE wallet_handles, payment_requests")
