"""Card top-ups through the processor sandbox and bank transfer top-ups.

Two sides live here. finhub's own tables keep what a wallet provider may keep about a card
(brand, last four digits, expiry, the processor's token) and never the number or the CVC. The
card processor sandbox keeps its own state in `card_sandbox_*` tables, as the real processor
would on its side: the vault (card numbers sealed with AES-GCM), charges, refunds and the
webhook events it still has to deliver.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- finhub: cards a person has tokenised (never the number, never the CVC).
        CREATE TABLE payment_cards (
            id               text        PRIMARY KEY,          -- ctok_…
            user_id          text        NOT NULL REFERENCES users (id),
            processor_token  text        NOT NULL,
            brand            text        NOT NULL,
            last4            text        NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
            exp_month        integer     NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
            exp_year         integer     NOT NULL CHECK (exp_year BETWEEN 2000 AND 2100),
            created_at       timestamptz NOT NULL
        );
        CREATE INDEX payment_cards_user ON payment_cards (user_id, created_at DESC);

        -- finhub: a card top-up's processor side (the payment itself is in `payments`).
        CREATE TABLE card_topups (
            payment_id             text        PRIMARY KEY REFERENCES payments (id),
            user_id                text        NOT NULL REFERENCES users (id),
            wallet_id              text        NOT NULL REFERENCES wallets (id),
            card_id                text        NOT NULL REFERENCES payment_cards (id),
            processor_charge_id    text        NOT NULL UNIQUE,
            captured_amount        numeric(39, 0) NOT NULL DEFAULT 0 CHECK (captured_amount >= 0),
            refunded_amount        numeric(39, 0) NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
            refunded_fee           numeric(39, 0) NOT NULL DEFAULT 0 CHECK (refunded_fee >= 0),
            capture_transaction_id text,
            created_at             timestamptz NOT NULL,
            updated_at             timestamptz NOT NULL,
            CHECK (refunded_amount <= captured_amount)
        );
        CREATE INDEX card_topups_user ON card_topups (user_id, created_at DESC);

        CREATE TABLE card_topup_refunds (
            payment_id          text        PRIMARY KEY REFERENCES payments (id),  -- the refund
            topup_payment_id    text        NOT NULL REFERENCES card_topups (payment_id),
            amount              numeric(39, 0) NOT NULL CHECK (amount > 0),
            fee_returned        numeric(39, 0) NOT NULL CHECK (fee_returned >= 0),
            processor_refund_id text        NOT NULL UNIQUE,
            created_at          timestamptz NOT NULL
        );
        CREATE INDEX card_topup_refunds_topup ON card_topup_refunds (topup_payment_id);

        -- finhub: processor webhook events already applied (a duplicate changes nothing).
        CREATE TABLE card_webhook_events (
            event_id    text        PRIMARY KEY,
            type        text        NOT NULL,
            charge_id   text,
            received_at timestamptz NOT NULL
        );

        -- finhub: one virtual IBAN per wallet, for bank transfers in.
        CREATE SEQUENCE virtual_iban_account_numbers START 1;
        CREATE TABLE wallet_virtual_ibans (
            wallet_id      text        PRIMARY KEY REFERENCES wallets (id),
            iban           text        NOT NULL UNIQUE,
            account_number bigint      NOT NULL UNIQUE,
            created_at     timestamptz NOT NULL
        );

        -- finhub: every incoming bank credit, matched or not (money never vanishes: unmatched
        -- credits wait in suspense for staff to assign).
        CREATE TABLE bank_credits (
            id                  text        PRIMARY KEY,
            bank_transaction_id text        NOT NULL UNIQUE,
            reference           text,
            iban                text,
            amount              numeric(39, 0) NOT NULL CHECK (amount > 0),
            currency            text        NOT NULL CHECK (currency ~ '^[A-Z0-9]{2,12}$'),
            sender_name         text        NOT NULL,
            status              text        NOT NULL
                                CHECK (status IN ('matched', 'unmatched', 'assigned')),
            unmatched_reason    text,
            wallet_id           text        REFERENCES wallets (id),
            payment_id          text        REFERENCES payments (id),
            suspense_transaction_id text,
            assigned_by         text,
            received_at         timestamptz NOT NULL,
            resolved_at         timestamptz,
            CHECK ((status = 'unmatched') = (payment_id IS NULL))
        );
        CREATE INDEX bank_credits_unmatched ON bank_credits (received_at, id)
            WHERE status = 'unmatched';

        -- The card processor sandbox's own state.
        CREATE TABLE card_sandbox_payment_methods (
            id           text        PRIMARY KEY,                  -- pm_…
            sealed_pan   bytea       NOT NULL,                     -- nonce || AES-GCM
            key_id       text        NOT NULL,
            fingerprint  text        NOT NULL,                     -- keyed hash of the number
            brand        text        NOT NULL,
            last4        text        NOT NULL,
            exp_month    integer     NOT NULL,
            exp_year     integer     NOT NULL,
            created_at   timestamptz NOT NULL
        );

        CREATE TABLE card_sandbox_charges (
            id                text        PRIMARY KEY,             -- ch_…
            payment_method_id text        NOT NULL REFERENCES card_sandbox_payment_methods (id),
            idempotency_key   text        NOT NULL UNIQUE,
            amount            numeric(39, 0) NOT NULL CHECK (amount > 0),
            currency          text        NOT NULL,
            status            text        NOT NULL CHECK (status IN (
                              'requires_action', 'authorized', 'captured', 'declined',
                              'failed')),
            amount_captured   numeric(39, 0) NOT NULL DEFAULT 0,
            amount_refunded   numeric(39, 0) NOT NULL DEFAULT 0,
            decline_code      text,
            metadata          jsonb       NOT NULL DEFAULT '{}',
            created_at        timestamptz NOT NULL,
            updated_at        timestamptz NOT NULL,
            CHECK (amount_refunded <= amount_captured AND amount_captured <= amount)
        );

        CREATE TABLE card_sandbox_refunds (
            id               text        PRIMARY KEY,              -- re_…
            charge_id        text        NOT NULL REFERENCES card_sandbox_charges (id),
            idempotency_key  text        NOT NULL UNIQUE,
            amount           numeric(39, 0) NOT NULL CHECK (amount > 0),
            created_at       timestamptz NOT NULL
        );

        CREATE TABLE card_sandbox_events (
            id              text        PRIMARY KEY,               -- evt_…
            type            text        NOT NULL,
            payload         jsonb       NOT NULL,
            created_at      timestamptz NOT NULL,
            attempts        integer     NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL,
            delivered_at    timestamptz
        );
        CREATE INDEX card_sandbox_events_due ON card_sandbox_events (next_attempt_at)
            WHERE delivered_at IS NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE card_sandbox_events, card_sandbox_refunds, card_sandbox_charges,
                   card_sandbox_payment_methods, bank_credits, wallet_virtual_ibans,
                   card_webhook_events, card_topup_refunds, card_topups, payment_cards;
        DROP SEQUENCE virtual_iban_account_numbers;
        """
    )
