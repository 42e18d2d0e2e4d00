"""Second factors: TOTP, recovery codes, passkeys and the payment PIN.

Every factor belongs to an identity: a person (`user_id`) or a staff member (`staff_id`), never
both. `identity_id` is derived from whichever is set, so the code can look factors up by one
column while the foreign keys still hold.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OWNER_COLUMNS = """
    user_id      text        REFERENCES users (id) ON DELETE CASCADE,
    staff_id     text        REFERENCES staff_members (id) ON DELETE CASCADE,
    identity_id  text        NOT NULL GENERATED ALWAYS AS (coalesce(user_id, staff_id)) STORED,
"""
ONE_OWNER = "CHECK ((user_id IS NULL) <> (staff_id IS NULL))"


def upgrade() -> None:
    op.execute(
        f"""
        -- The TOTP secret is kept encrypted (AES-GCM); `key_id` names the key that sealed it so
        -- keys can rotate. `last_used_step` is the newest accepted time step: a code from that
        -- step or an earlier one is a replay.
        CREATE TABLE totp_factors (
            id                text        PRIMARY KEY,
            {OWNER_COLUMNS}
            secret_ciphertext bytea       NOT NULL,
            key_id            text        NOT NULL,
            last_used_step    bigint,
            created_at        timestamptz NOT NULL,
            confirmed_at      timestamptz,
            {ONE_OWNER}
        );
        CREATE UNIQUE INDEX totp_factors_one_confirmed ON totp_factors (identity_id)
            WHERE confirmed_at IS NOT NULL;
        CREATE INDEX totp_factors_identity ON totp_factors (identity_id);

        -- Recovery codes carry 80 random bits, so their SHA-256 is enough to store.
        CREATE TABLE recovery_codes (
            {OWNER_COLUMNS}
            code_hash   bytea       NOT NULL,
            created_at  timestamptz NOT NULL,
            used_at     timestamptz,
            {ONE_OWNER},
            PRIMARY KEY (identity_id, code_hash)
        );

        CREATE TABLE passkeys (
            id             text        PRIMARY KEY,
            {OWNER_COLUMNS}
            credential_id  bytea       NOT NULL UNIQUE,
            public_key     bytea       NOT NULL,
            sign_count     bigint      NOT NULL CHECK (sign_count >= 0),
            name           text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            aaguid         text        NOT NULL,
            transports     text[]      NOT NULL DEFAULT '{{}}',
            device_type    text        NOT NULL CHECK (device_type IN ('single_device',
                                                                       'multi_device')),
            backed_up      boolean     NOT NULL,
            created_at     timestamptz NOT NULL,
            last_used_at   timestamptz,
            {ONE_OWNER}
        );
        CREATE INDEX passkeys_identity ON passkeys (identity_id, id);

        CREATE TABLE payment_pins (
            {OWNER_COLUMNS}
            pin_hash    text        NOT NULL,
            created_at  timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL,
            {ONE_OWNER},
            PRIMARY KEY (identity_id)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE payment_pins, passkeys, recovery_codes, totp_factors")
