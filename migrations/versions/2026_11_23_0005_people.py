"""People: consents, known devices and places of sign-in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Every consent a person gives or withdraws, with the document version, when and from
        -- where. Rows are never changed: the current state of a kind is its newest row.
        CREATE TABLE consents (
            id          text        PRIMARY KEY,
            user_id     text        NOT NULL REFERENCES users (id),
            kind        text        NOT NULL CHECK (kind IN ('terms', 'privacy', 'marketing')),
            version     text        NOT NULL CHECK (length(version) BETWEEN 1 AND 32),
            granted     boolean     NOT NULL,
            ip          inet,
            user_agent  text,
            created_at  timestamptz NOT NULL,
            CHECK (kind = 'marketing' OR granted)
        );
        CREATE INDEX consents_user ON consents (user_id, kind, created_at);

        CREATE FUNCTION consents_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'consent records are append-only: % is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents
            FOR EACH ROW EXECUTE FUNCTION consents_forbid_change();
        CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON consents
            FOR EACH STATEMENT EXECUTE FUNCTION consents_forbid_change();

        -- Devices a person has signed in from, to alert on a new one. `device_key` is the
        -- SHA-256 (hex) of the long-lived device cookie, or of user agent + network for
        -- clients without cookies; the cookie itself is never stored.
        CREATE TABLE known_devices (
            user_id       text        NOT NULL REFERENCES users (id),
            device_key    text        NOT NULL CHECK (length(device_key) = 64),
            user_agent    text,
            first_seen_at timestamptz NOT NULL,
            last_seen_at  timestamptz NOT NULL,
            PRIMARY KEY (user_id, device_key)
        );

        -- Networks (/24 for IPv4, /48 for IPv6) a person has signed in from: a new one is a
        -- "new place".
        CREATE TABLE known_places (
            user_id       text        NOT NULL REFERENCES users (id),
            network       cidr        NOT NULL,
            first_seen_at timestamptz NOT NULL,
            last_seen_at  timestamptz NOT NULL,
            PRIMARY KEY (user_id, network)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE known_places, known_devices;
        DROP TABLE consents;
        DROP FUNCTION consents_forbid_change();
        """
    )
