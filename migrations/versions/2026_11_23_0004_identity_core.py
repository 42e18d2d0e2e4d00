"""Identity core: people, staff, sessions, one-time tokens and sign-in throttles.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE users (
            id                text        PRIMARY KEY,
            email             text        NOT NULL,
            email_normalized  text        NOT NULL UNIQUE,
            phone             text,
            display_name      text,
            password_hash     text,
            status            text        NOT NULL DEFAULT 'pending_verification'
                              CHECK (status IN ('pending_verification', 'active', 'disabled')),
            email_verified_at timestamptz,
            kyc_tier          text        NOT NULL DEFAULT 'basic',
            locale            text        NOT NULL DEFAULT 'en',
            home_currency     text        NOT NULL DEFAULT 'EUR',
            created_at        timestamptz NOT NULL DEFAULT now(),
            updated_at        timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE staff_members (
            id                text        PRIMARY KEY,
            email             text        NOT NULL,
            email_normalized  text        NOT NULL UNIQUE,
            display_name      text        NOT NULL,
            password_hash     text        NOT NULL,
            roles             text[]      NOT NULL CHECK (cardinality(roles) > 0 AND roles <@
                              ARRAY['support', 'compliance', 'operations', 'admin']),
            status            text        NOT NULL DEFAULT 'active'
                              CHECK (status IN ('active', 'disabled')),
            created_at        timestamptz NOT NULL DEFAULT now(),
            updated_at        timestamptz NOT NULL DEFAULT now()
        );

        -- One row per signed-in device. The bearer token (cookie or Authorization header) is
        -- stored as its SHA-256 only. aal 1 = password, 2 = a second factor or a passkey.
        CREATE TABLE sessions (
            id             text        PRIMARY KEY,
            token_hash     bytea       NOT NULL UNIQUE,
            user_id        text        REFERENCES users (id),
            staff_id       text        REFERENCES staff_members (id),
            aal            smallint    NOT NULL CHECK (aal IN (1, 2)),
            stepped_up_at  timestamptz,
            csrf_token     text        NOT NULL,
            ip             inet,
            user_agent     text,
            device_id      text,
            created_at     timestamptz NOT NULL,
            last_seen_at   timestamptz NOT NULL,
            idle_expires_at timestamptz NOT NULL,
            expires_at     timestamptz NOT NULL,
            revoked_at     timestamptz,
            CHECK ((user_id IS NULL) <> (staff_id IS NULL))
        );
        CREATE INDEX sessions_user ON sessions (user_id, created_at) WHERE user_id IS NOT NULL;
        CREATE INDEX sessions_staff ON sessions (staff_id, created_at) WHERE staff_id IS NOT NULL;

        -- Single-use tokens behind emailed links and multi-step flows (email verification,
        -- password reset, sign-in challenges, invitations). Only the hash of the secret part is
        -- kept; `used_at` makes a replay fail.
        CREATE TABLE one_time_tokens (
            id          text        PRIMARY KEY,
            purpose     text        NOT NULL,
            subject_id  text        NOT NULL,
            token_hash  bytea       NOT NULL UNIQUE,
            data        jsonb       NOT NULL DEFAULT '{}',
            created_at  timestamptz NOT NULL,
            expires_at  timestamptz NOT NULL,
            used_at     timestamptz
        );
        CREATE INDEX one_time_tokens_subject ON one_time_tokens (subject_id, purpose);

        -- Failure counters for sign-in, second factors, resets and PINs, shared by every API
        -- process. `locked_until` grows exponentially with repeated lockouts.
        CREATE TABLE auth_throttles (
            scope        text        NOT NULL,
            key          text        NOT NULL,
            failures     integer     NOT NULL DEFAULT 0,
            lockouts     integer     NOT NULL DEFAULT 0,
            window_start timestamptz NOT NULL,
            locked_until timestamptz,
            PRIMARY KEY (scope, key)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE auth_throttles, one_time_tokens, sessions, staff_members, users")
