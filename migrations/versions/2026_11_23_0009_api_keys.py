"""API keys of people and organisations.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- A key belongs to a person or to an organisation. The secret (`fh_live_…`/`fh_test_…`,
        -- 256 random bits) is stored as its SHA-256 only; `secret_prefix` and `secret_last4`
        -- let a list show which key is which. After a roll, the previous secret's hash is
        -- kept with the end of its grace period, so it keeps working until then and is
        -- recognised (and refused) afterwards.
        CREATE TABLE api_keys (
            id                          text        PRIMARY KEY,
            user_id                     text        REFERENCES users (id),
            organization_id             text        REFERENCES organizations (id),
            name                        text        NOT NULL
                                        CHECK (length(name) BETWEEN 1 AND 100),
            mode                        text        NOT NULL CHECK (mode IN ('live', 'test')),
            scopes                      text[]      NOT NULL,
            allowed_ips                 cidr[]      CHECK (cardinality(allowed_ips) > 0),
            secret_hash                 bytea       NOT NULL UNIQUE
                                        CHECK (length(secret_hash) = 32),
            secret_prefix               text        NOT NULL,
            secret_last4                text        NOT NULL CHECK (length(secret_last4) = 4),
            previous_secret_hash        bytea       UNIQUE,
            previous_secret_expires_at  timestamptz,
            created_by                  text        NOT NULL REFERENCES users (id),
            created_at                  timestamptz NOT NULL,
            expires_at                  timestamptz CHECK (expires_at > created_at),
            last_used_at                timestamptz,
            last_used_ip                inet,
            rolled_at                   timestamptz,
            revoked_at                  timestamptz,
            revoked_by                  text,
            CHECK ((user_id IS NULL) <> (organization_id IS NULL)),
            CHECK ((previous_secret_hash IS NULL) = (previous_secret_expires_at IS NULL)),
            CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
        );
        -- The lists: a person's keys and an organisation's keys, newest first (ids sort by
        -- time).
        CREATE INDEX api_keys_user ON api_keys (user_id, id) WHERE user_id IS NOT NULL;
        CREATE INDEX api_keys_organization ON api_keys (organization_id, id)
            WHERE organization_id IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE api_keys")
