"""Limit usage kept as running totals per wallet, currency and UTC day.

A limit check needs what a wallet has sent (or topped up) today and this month. Summing the
wallet's payments of the month reads every one of them, so a wallet that pays often made each
of its payments slower than the last. `payment_usage` holds one running total per (wallet,
currency, scope, day); a month is at most 31 rows.

The database keeps the totals, so no flow can forget to: a trigger on `payments` adds a
payment's amount when it starts to count (inserted as requires_action, processing or
completed) and takes it back when it stops (failed, canceled). Scopes follow
`finhub.payments.limits`: `sent` is p2p, withdrawal, request_payment and fx_conversion;
`topup` is card_topup. The totals of payments already recorded are filled in here.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE payment_usage (
            wallet_id text NOT NULL,
            currency text NOT NULL,
            scope text NOT NULL CHECK (scope IN ('sent', 'topup')),
            day date NOT NULL,
            amount numeric(39, 0) NOT NULL,
            PRIMARY KEY (wallet_id, currency, scope, day)
        );

        CREATE FUNCTION payment_usage_scope(kind text) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$
            SELECT CASE
                WHEN kind IN ('p2p', 'withdrawal', 'request_payment', 'fx_conversion')
                    THEN 'sent'
                WHEN kind = 'card_topup' THEN 'topup'
            END
        $$;

        CREATE FUNCTION payment_usage_counts(status text) RETURNS boolean
        LANGUAGE sql IMMUTABLE AS $$
            SELECT status IN ('requires_action', 'processing', 'completed')
        $$;

        CREATE FUNCTION payments_keep_usage() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            usage_scope text := payment_usage_scope(NEW.kind);
            counts_now boolean := payment_usage_counts(NEW.status);
            counted_before boolean := TG_OP = 'UPDATE' AND payment_usage_counts(OLD.status);
        BEGIN
            IF usage_scope IS NULL OR counts_now = counted_before THEN
                RETURN NULL;
            END IF;
            INSERT INTO payment_usage AS u (wallet_id, currency, scope, day, amount)
            VALUES (NEW.wallet_id, NEW.currency, usage_scope,
                    (NEW.created_at AT TIME ZONE 'UTC')::date,
                    CASE WHEN counts_now THEN NEW.amount ELSE -NEW.amount END)
            ON CONFLICT (wallet_id, currency, scope, day)
            DO UPDATE SET amount = u.amount + EXCLUDED.amount;
            RETURN NULL;
        END
        $$;

        CREATE TRIGGER payments_keep_usage
            AFTER INSERT OR UPDATE OF status ON payments
            FOR EACH ROW EXECUTE FUNCTION payments_keep_usage();

        INSERT INTO payment_usage (wallet_id, currency, scope, day, amount)
        SELECT wallet_id, currency, payment_usage_scope(kind),
               (created_at AT TIME ZONE 'UTC')::date, sum(amount)
          FROM payments
         WHERE payment_usage_scope(kind) IS NOT NULL AND payment_usage_counts(status)
         GROUP BY 1, 2, 3, 4;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER payments_keep_usage ON payments;
        DROP FUNCTION payments_keep_usage(), payment_usage_counts(text),
                      payment_usage_scope(text);
        DROP TABLE payment_usage;
        """
    )
