"""Payees, withdrawals and ISO 20022 payout batches.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- A person's saved bank accounts: an IBAN (with its BIC) or a local account number
        -- with the bank's clearing code (UK sort code, US routing number). Rows are never
        -- deleted: a removed payee stays readable for the payouts already sent to it.
        CREATE TABLE payees (
            id               text        PRIMARY KEY,
            user_id          text        NOT NULL REFERENCES users (id),
            name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 70),
            nickname         text        CHECK (length(nickname) <= 70),
            currency         text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            country          text        NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
            iban             text        CHECK (iban ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}$'),
            bic              text        CHECK (bic ~ '^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$'),
            account_number   text        CHECK (account_number ~ '^[0-9]{4,17}$'),
            clearing_system  text        CHECK (clearing_system IN ('GBDSC', 'USABA')),
            clearing_code    text        CHECK (clearing_code ~ '^[0-9]{6,9}$'),
            created_at       timestamptz NOT NULL,
            removed_at       timestamptz,
            CHECK ((iban IS NULL) = (account_number IS NOT NULL)),
            CHECK ((account_number IS NULL) = (clearing_code IS NULL)),
            CHECK ((clearing_code IS NULL) = (clearing_system IS NULL))
        );
        CREATE INDEX payees_by_user ON payees (user_id, id DESC) WHERE removed_at IS NULL;

        -- One file sent to the bank: the withdrawals of one currency gathered in one run.
        -- The pain.001 document is stored as exported, so a re-download is byte-identical.
        CREATE TABLE payout_batches (
            id              text        PRIMARY KEY,
            currency        text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            scheme          text        NOT NULL CHECK (scheme IN ('sepa', 'iso20022')),
            message_id      text        NOT NULL UNIQUE CHECK (length(message_id) <= 35),
            payment_count   integer     NOT NULL CHECK (payment_count > 0),
            control_sum     numeric(39, 0) NOT NULL CHECK (control_sum > 0),
            status          text        NOT NULL DEFAULT 'exported'
                            CHECK (status IN ('exported', 'settled')),
            pain001         text        NOT NULL,
            pain001_sha256  text        NOT NULL CHECK (pain001_sha256 ~ '^[0-9a-f]{64}$'),
            created_by      text        NOT NULL,
            created_at      timestamptz NOT NULL,
            settled_at      timestamptz,
            CHECK ((status = 'settled') = (settled_at IS NOT NULL))
        );
        CREATE INDEX payout_batches_recent ON payout_batches (created_at DESC, id DESC);

        -- What a withdrawal payment needs for the bank: its payee, its place in a batch and
        -- how the bank answered. batch_id is set exactly once, by the run that claimed it.
        CREATE TABLE payouts (
            payment_id      text        PRIMARY KEY REFERENCES payments (id),
            user_id         text        NOT NULL REFERENCES users (id),
            wallet_id       text        NOT NULL REFERENCES wallets (id),
            payee_id        text        NOT NULL REFERENCES payees (id),
            amount          numeric(39, 0) NOT NULL CHECK (amount > 0),
            currency        text        NOT NULL,
            end_to_end_id   text        NOT NULL UNIQUE CHECK (length(end_to_end_id) <= 35),
            status          text        NOT NULL DEFAULT 'pending' CHECK (status IN (
                            'pending', 'batched', 'paid', 'failed', 'canceled')),
            batch_id        text        REFERENCES payout_batches (id),
            reason_code     text        CHECK (length(reason_code) <= 35),
            report_message_id text      CHECK (length(report_message_id) <= 35),
            created_at      timestamptz NOT NULL,
            updated_at      timestamptz NOT NULL,
            CHECK ((batch_id IS NULL) = (status IN ('pending', 'canceled')))
        );
        CREATE INDEX payouts_unbatched ON payouts (currency, created_at, payment_id)
            WHERE status = 'pending';
        CREATE INDEX payouts_by_batch ON payouts (batch_id, payment_id)
            WHERE batch_id IS NOT NULL;

        -- Each bank status report (pain.002) imported, once per batch and message id.
        CREATE TABLE payout_status_reports (
            batch_id        text        NOT NULL REFERENCES payout_batches (id),
            message_id      text        NOT NULL CHECK (length(message_id) <= 35),
            content_sha256  text        NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
            paid_count      integer     NOT NULL CHECK (paid_count >= 0),
            failed_count    integer     NOT NULL CHECK (failed_count >= 0),
            imported_by     text        NOT NULL,
            imported_at     timestamptz NOT NULL,
            PRIMARY KEY (batch_id, message_id)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE payout_status_reports, payouts, payout_batches, payees")
