"""Fee schedules, limits per KYC tier, scheduled and recurring payments.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Default limits in major units of EUR per tier: per payment, daily, monthly (money sent),
# top-up per payment, daily, monthly, and the balance cap. Other seeded currencies scale them
# by a rounded factor so the figures read naturally in that currency.
DEFAULT_EUR_LIMITS = {
    "basic": (1_000, 2_500, 10_000, 1_000, 2_500, 10_000, 15_000),
    "verified": (10_000, 25_000, 100_000, 10_000, 25_000, 100_000, 250_000),
    "premium": (50_000, 100_000, 500_000, 50_000, 100_000, 500_000, 1_000_000),
}
SEEDED_CURRENCIES = {"EUR": 1, "USD": 1, "GBP": 0.8, "THB": 40, "CNY": 8}  # all have scale 2


def _limit_seed_rows() -> str:
    rows = []
    for tier, figures in DEFAULT_EUR_LIMITS.items():
        for currency, factor in SEEDED_CURRENCIES.items():
            minor = ", ".join(str(int(figure * factor) * 100) for figure in figures)
            rows.append(f"('{tier}', '{currency}', {minor}, now())")
    return ",\n            ".join(rows)


def upgrade() -> None:
    op.execute(
        """
        -- What finhub charges per operation and currency: fixed (minor units) + percentage
        -- (basis points, fractions allowed), clamped to [min_fee, max_fee]. The row for
        -- currency '*' is the fallback for currencies without their own row; minor-unit
        -- figures mean nothing across currencies, so it may only carry a percentage.
        CREATE TABLE fee_schedules (
            operation    text        NOT NULL CHECK (operation IN (
                         'p2p', 'card_topup', 'bank_topup', 'withdrawal', 'fx_conversion',
                         'request_payment')),
            currency     text        NOT NULL CHECK (currency ~ '^([A-Z][A-Z0-9]{2,11}|\\*)$'),
            fixed        numeric(39, 0) NOT NULL DEFAULT 0 CHECK (fixed >= 0),
            percent_bps  numeric(9, 4) NOT NULL DEFAULT 0
                         CHECK (percent_bps >= 0 AND percent_bps <= 10000),
            min_fee      numeric(39, 0) NOT NULL DEFAULT 0 CHECK (min_fee >= 0),
            max_fee      numeric(39, 0) CHECK (max_fee >= min_fee),
            updated_at   timestamptz NOT NULL,
            updated_by   text,
            PRIMARY KEY (operation, currency),
            CHECK (currency <> '*' OR (fixed = 0 AND min_fee = 0 AND max_fee IS NULL))
        );

        -- Limits per KYC tier and currency, in minor units; NULL means no limit. "Sent" limits
        -- cover money leaving the wallet (p2p, withdrawal, request_payment, fx_conversion's
        -- sell side); top-up limits cover card top-ups; the balance cap bounds what a wallet
        -- may hold in the currency.
        CREATE TABLE payment_limits (
            tier                text        NOT NULL
                                CHECK (tier IN ('basic', 'verified', 'premium')),
            currency            text        NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,11}$'),
            per_payment         numeric(39, 0) CHECK (per_payment >= 0),
            daily               numeric(39, 0) CHECK (daily >= 0),
            monthly             numeric(39, 0) CHECK (monthly >= 0),
            topup_per_payment   numeric(39, 0) CHECK (topup_per_payment >= 0),
            topup_daily         numeric(39, 0) CHECK (topup_daily >= 0),
            topup_monthly       numeric(39, 0) CHECK (topup_monthly >= 0),
            balance             numeric(39, 0) CHECK (balance >= 0),
            updated_at          timestamptz NOT NULL,
            updated_by          text,
            PRIMARY KEY (tier, currency)
        );

        -- Limit usage runs on every payment: one index range scan over the wallet's payments
        -- that still count (processing or completed) in the currency and month.
        CREATE INDEX payments_limit_usage ON payments (wallet_id, currency, created_at)
            INCLUDE (kind, amount)
            WHERE status IN ('requires_action', 'processing', 'completed');

        -- A payment that is planned: once (no rule) or recurring (an RFC 5545 RRULE from
        -- start_at, in UTC). next_run_at is the next occurrence not yet turned into a run.
        CREATE TABLE scheduled_payments (
            id                  text        PRIMARY KEY,
            user_id             text        NOT NULL REFERENCES users (id),
            type                text        NOT NULL CHECK (type IN ('p2p', 'withdrawal')),
            recipient_wallet_id text        REFERENCES wallets (id),
            recipient_label     text        CHECK (length(recipient_label) <= 320),
            payee_id            text,
            amount              numeric(39, 0) NOT NULL CHECK (amount > 0),
            currency            text        NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,11}$'),
            note                text        CHECK (length(note) <= 500),
            start_at            timestamptz NOT NULL,
            rule                text        CHECK (length(rule) <= 500),
            end_at              timestamptz CHECK (end_at >= start_at),
            status              text        NOT NULL CHECK (status IN (
                                'active', 'paused', 'canceled', 'finished')),
            next_run_at         timestamptz,
            created_at          timestamptz NOT NULL,
            updated_at          timestamptz NOT NULL,
            canceled_at         timestamptz,
            CHECK ((type = 'p2p') = (recipient_wallet_id IS NOT NULL)),
            CHECK ((type = 'withdrawal') = (payee_id IS NOT NULL)),
            CHECK (status <> 'active' OR next_run_at IS NOT NULL)
        );
        CREATE INDEX scheduled_payments_due ON scheduled_payments (next_run_at)
            WHERE status = 'active';
        CREATE INDEX scheduled_payments_by_user
            ON scheduled_payments (user_id, created_at DESC, id DESC);

        -- One occurrence of a schedule. The key (schedule, occurrence) is unique, and the
        -- payment it makes is recorded in the same transaction that moves it to 'succeeded',
        -- so an occurrence pays at most once whatever crashes or runs twice.
        CREATE TABLE scheduled_payment_runs (
            scheduled_payment_id text        NOT NULL REFERENCES scheduled_payments (id),
            occurrence_at        timestamptz NOT NULL,
            status               text        NOT NULL CHECK (status IN (
                                 'pending', 'succeeded', 'failed', 'canceled')),
            attempts             integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at      timestamptz,
            payment_id           text        UNIQUE REFERENCES payments (id),
            failure_code         text,
            failure_message      text,
            created_at           timestamptz NOT NULL,
            updated_at           timestamptz NOT NULL,
            PRIMARY KEY (scheduled_payment_id, occurrence_at),
            CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
            CHECK ((status = 'succeeded') = (payment_id IS NOT NULL))
        );
        CREATE INDEX scheduled_payment_runs_due ON scheduled_payment_runs (next_attempt_at)
            WHERE status = 'pending';

        -- The occurrence key travels in the payment's metadata too: even a payment made
        -- outside the run's transaction can't be made twice for one occurrence.
        CREATE UNIQUE INDEX payments_scheduled_occurrence
            ON payments ((metadata ->> 'scheduled_occurrence'))
            WHERE metadata ? 'scheduled_occurrence';
        """
    )
    op.execute(
        f"""
        INSERT INTO payment_limits (tier, currency, per_payment, daily, monthly,
                                    topup_per_payment, topup_daily, topup_monthly, balance,
                                    updated_at)
        VALUES
            {_limit_seed_rows()}
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX payments_scheduled_occurrence;
        DROP TABLE scheduled_payment_runs, scheduled_payments;
        DROP INDEX payments_limit_usage;
        DROP TABLE payment_limits, fee_schedules;
        """
    )
