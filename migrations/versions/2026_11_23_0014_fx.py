"""Exchange rates and FX quotes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Every rate ever imported or set, kept as history: the newest per pair is the one in
        -- force. The ECB publishes EUR -> X; other pairs are crossed via EUR when needed.
        CREATE TABLE fx_rates (
            id          text        PRIMARY KEY,
            source      text        NOT NULL CHECK (source IN ('ecb', 'manual')),
            base        text        NOT NULL CHECK (base ~ '^[A-Z][A-Z0-9_]{1,15}$'),
            quote       text        NOT NULL CHECK (quote ~ '^[A-Z][A-Z0-9_]{1,15}$'),
            rate        numeric     NOT NULL CHECK (rate > 0),
            as_of_date  date        NOT NULL,
            as_of       timestamptz NOT NULL,
            created_at  timestamptz NOT NULL,
            created_by  text,
            CHECK (base <> quote),
            UNIQUE (source, base, quote, as_of)
        );
        CREATE INDEX fx_rates_latest ON fx_rates (base, quote, as_of DESC, created_at DESC);

        -- One row: where the daily import fetches from, and the default spread.
        CREATE TABLE fx_settings (
            id          boolean     PRIMARY KEY DEFAULT true CHECK (id),
            ecb_url     text        CHECK (ecb_url ~ '^https?://'),
            spread_bps  integer     NOT NULL DEFAULT 50 CHECK (spread_bps BETWEEN 0 AND 5000),
            updated_at  timestamptz NOT NULL DEFAULT now(),
            updated_by  text
        );
        INSERT INTO fx_settings DEFAULT VALUES;

        -- A price offered to one person for a short while. Accepting it books the conversion
        -- (payment_id); the figures here are binding, never recomputed.
        CREATE TABLE fx_quotes (
            id             text           PRIMARY KEY,
            user_id        text           NOT NULL REFERENCES users (id),
            sell_currency  text           NOT NULL,
            buy_currency   text           NOT NULL,
            fixed_side     text           NOT NULL CHECK (fixed_side IN ('sell', 'buy')),
            sell_amount    numeric(39, 0) NOT NULL CHECK (sell_amount > 0),
            buy_amount     numeric(39, 0) NOT NULL CHECK (buy_amount > 0),
            fee            numeric(39, 0) NOT NULL DEFAULT 0 CHECK (fee >= 0),
            mid_rate       numeric        NOT NULL CHECK (mid_rate > 0),
            rate           numeric        NOT NULL CHECK (rate > 0),
            spread_bps     integer        NOT NULL CHECK (spread_bps >= 0),
            -- buy-currency minor units the customer is not paid (sell x rate, rounded down)
            remainder      numeric        NOT NULL CHECK (remainder >= 0 AND remainder < 1),
            rate_source    text           NOT NULL,
            rate_as_of     timestamptz    NOT NULL,
            created_at     timestamptz    NOT NULL,
            expires_at     timestamptz    NOT NULL,
            accepted_at    timestamptz,
            payment_id     text           REFERENCES payments (id),
            CHECK (sell_currency <> buy_currency),
            CHECK (expires_at > created_at),
            CHECK ((accepted_at IS NULL) = (payment_id IS NULL))
        );
        CREATE INDEX fx_quotes_user ON fx_quotes (user_id, created_at DESC);

        -- Fractions of a minor unit withheld by rounding, per currency, not yet a whole unit.
        -- Each conversion adds its remainder; whole units move to the rounding account.
        CREATE TABLE fx_rounding_carry (
            currency    text        PRIMARY KEY,
            carry       numeric     NOT NULL CHECK (carry >= 0 AND carry < 1),
            updated_at  timestamptz NOT NULL
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE fx_rounding_carry;
        DROP TABLE fx_quotes;
        DROP TABLE fx_settings;
        DROP TABLE fx_rates;
        """
    )
