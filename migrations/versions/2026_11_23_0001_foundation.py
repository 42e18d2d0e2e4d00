"""Foundation: idempotency keys and the request-independent tables every module uses.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            principal       text        NOT NULL,
            key             text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
            method          text        NOT NULL,
            path            text        NOT NULL,
            request_hash    text        NOT NULL,
            state           text        NOT NULL CHECK (state IN ('started', 'completed')),
            response_status integer,
            response_body   bytea,
            created_at      timestamptz NOT NULL DEFAULT now(),
            locked_at       timestamptz NOT NULL DEFAULT now(),
            completed_at    timestamptz,
            PRIMARY KEY (principal, key),
            CHECK ((state = 'completed') = (response_status IS NOT NULL))
        );
        CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
