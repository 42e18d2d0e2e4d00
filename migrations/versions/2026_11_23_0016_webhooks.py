"""Webhook endpoints, their deliveries and attempts; the payment notifications already sent.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Where an owner ("user:usr_…", later "org:org_…") wants events sent. The signing
        -- secret is sealed (AES-GCM) because signing needs it back; a rolled secret keeps
        -- signing alongside the new one until `previous_secret_expires_at`.
        CREATE TABLE webhook_endpoints (
            id                          text        PRIMARY KEY,
            owner                       text        NOT NULL CHECK (owner ~ '^(user|org):'),
            url                         text        NOT NULL CHECK (length(url) <= 2048),
            description                 text        CHECK (length(description) <= 500),
            event_types                 text[]      NOT NULL
                                        CHECK (cardinality(event_types) BETWEEN 1 AND 50),
            enabled                     boolean     NOT NULL DEFAULT true,
            secret_key_id               text        NOT NULL,
            secret_sealed               bytea       NOT NULL,
            previous_secret_key_id      text,
            previous_secret_sealed      bytea,
            previous_secret_expires_at  timestamptz,
            created_at                  timestamptz NOT NULL,
            updated_at                  timestamptz NOT NULL,
            CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL))
        );
        CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner, id);

        -- One message per (endpoint, outbox event): the unique pair makes handling the same
        -- event twice harmless. `id` is the stable `webhook-id` receivers deduplicate on, and
        -- `body` the exact bytes every attempt signs and sends.
        CREATE TABLE webhook_deliveries (
            id               text        PRIMARY KEY,
            endpoint_id      text        NOT NULL REFERENCES webhook_endpoints (id)
                                         ON DELETE CASCADE,
            event_id         text        NOT NULL,
            event_type       text        NOT NULL,
            body             text        NOT NULL,
            status           text        NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'succeeded', 'failed')),
            attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at  timestamptz,
            last_attempt_at  timestamptz,
            created_at       timestamptz NOT NULL,
            UNIQUE (endpoint_id, event_id),
            CHECK (status <> 'pending' OR next_attempt_at IS NOT NULL)
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
            WHERE status = 'pending';
        CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);

        -- The delivery log: every request made, what came back and how long it took.
        CREATE TABLE webhook_attempts (
            id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            delivery_id       text        NOT NULL REFERENCES webhook_deliveries (id)
                                          ON DELETE CASCADE,
            number            integer     NOT NULL CHECK (number >= 1),
            trigger           text        NOT NULL CHECK (trigger IN ('scheduled', 'replay')),
            started_at        timestamptz NOT NULL,
            duration_ms       integer     NOT NULL CHECK (duration_ms >= 0),
            status_code       integer,
            succeeded         boolean     NOT NULL,
            error             text        CHECK (length(error) <= 500),
            response_excerpt  text        CHECK (length(response_excerpt) <= 1000)
        );
        CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);

        -- Payment events already turned into an inbox note and an email: handling an event
        -- again (a reset cursor, a replayed batch) finds it here and does nothing.
        CREATE TABLE payment_notifications_sent (
            event_id         text        PRIMARY KEY,
            user_id          text        NOT NULL,
            payment_id       text        NOT NULL,
            notification_id  text,
            mail_id          text,
            created_at       timestamptz NOT NULL
        );
        CREATE INDEX payment_notifications_sent_payment
            ON payment_notifications_sent (payment_id);
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE payment_notifications_sent, webhook_attempts, webhook_deliveries,"
        " webhook_endpoints"
    )
