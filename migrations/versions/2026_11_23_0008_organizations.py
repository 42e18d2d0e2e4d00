"""Organisations: members, invitations, roles, permissions and teams.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BUILT_IN_ROLES = "'owner', 'admin', 'approver', 'maker', 'viewer', 'developer'"


def upgrade() -> None:
    op.execute(
        f"""
        -- A registration number is unique per country however it is punctuated or cased
        -- ("HRB 123-45" and "hrb12345" are the same company).
        CREATE TABLE organizations (
            id                  text        PRIMARY KEY,
            legal_name          text        NOT NULL CHECK (length(legal_name) BETWEEN 1 AND 200),
            display_name        text        CHECK (length(display_name) BETWEEN 1 AND 200),
            registration_number text        NOT NULL
                                CHECK (length(registration_number) BETWEEN 1 AND 64),
            registration_key    text        GENERATED ALWAYS AS
                                (upper(regexp_replace(registration_number, '[^A-Za-z0-9]', '',
                                                      'g'))) STORED
                                CHECK (registration_key <> ''),
            country             text        NOT NULL CHECK (country ~ '^[A-Z]{{2}}$'),
            created_by          text        NOT NULL REFERENCES users (id),
            created_at          timestamptz NOT NULL,
            updated_at          timestamptz NOT NULL,
            UNIQUE (country, registration_key)
        );

        -- Custom roles: a named set of permissions. Built-in roles are not rows; their
        -- permissions are data in finhub.organizations.permissions.
        CREATE TABLE organization_roles (
            id              text        PRIMARY KEY,
            organization_id text        NOT NULL REFERENCES organizations (id),
            name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 64
                                        AND lower(name) NOT IN ({BUILT_IN_ROLES})),
            description     text        CHECK (length(description) <= 500),
            permissions     text[]      NOT NULL CHECK (cardinality(permissions) > 0),
            created_at      timestamptz NOT NULL,
            updated_at      timestamptz NOT NULL,
            UNIQUE (organization_id, id)
        );
        CREATE UNIQUE INDEX organization_roles_name
            ON organization_roles (organization_id, lower(name));

        -- A member holds exactly one role: a built-in one or a custom role of the same
        -- organisation (the composite key makes a role of another organisation impossible, and
        -- RESTRICT keeps a role in use from being deleted).
        CREATE TABLE organization_members (
            id              text        PRIMARY KEY,
            organization_id text        NOT NULL REFERENCES organizations (id),
            user_id         text        NOT NULL REFERENCES users (id),
            builtin_role    text        CHECK (builtin_role IN ({BUILT_IN_ROLES})),
            custom_role_id  text,
            joined_at       timestamptz NOT NULL,
            updated_at      timestamptz NOT NULL,
            UNIQUE (organization_id, user_id),
            UNIQUE (organization_id, id),
            CHECK ((builtin_role IS NULL) <> (custom_role_id IS NULL)),
            FOREIGN KEY (organization_id, custom_role_id)
                REFERENCES organization_roles (organization_id, id) ON DELETE RESTRICT
        );
        CREATE INDEX organization_members_user ON organization_members (user_id);
        CREATE INDEX organization_members_custom_role
            ON organization_members (custom_role_id) WHERE custom_role_id IS NOT NULL;

        CREATE TABLE organization_teams (
            id              text        PRIMARY KEY,
            organization_id text        NOT NULL REFERENCES organizations (id),
            name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            description     text        CHECK (length(description) <= 500),
            created_at      timestamptz NOT NULL,
            updated_at      timestamptz NOT NULL,
            UNIQUE (organization_id, id)
        );
        CREATE UNIQUE INDEX organization_teams_name
            ON organization_teams (organization_id, lower(name));

        -- Both keys carry the organisation, so a team can only hold members of its own
        -- organisation; removing a member or a team removes the pairing.
        CREATE TABLE organization_team_members (
            organization_id text        NOT NULL,
            team_id         text        NOT NULL,
            member_id       text        NOT NULL,
            added_at        timestamptz NOT NULL,
            PRIMARY KEY (team_id, member_id),
            FOREIGN KEY (organization_id, team_id)
                REFERENCES organization_teams (organization_id, id) ON DELETE CASCADE,
            FOREIGN KEY (organization_id, member_id)
                REFERENCES organization_members (organization_id, id) ON DELETE CASCADE
        );
        CREATE INDEX organization_team_members_member
            ON organization_team_members (member_id);

        -- The secret link lives in one_time_tokens (purpose org_invitation, subject = the
        -- invitation id); this row is what members see and what acceptance checks.
        CREATE TABLE organization_invitations (
            id               text        PRIMARY KEY,
            organization_id  text        NOT NULL REFERENCES organizations (id),
            email            text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
            email_normalized text        NOT NULL,
            builtin_role     text        CHECK (builtin_role IN ({BUILT_IN_ROLES})),
            custom_role_id   text,
            team_ids         text[]      NOT NULL DEFAULT '{{}}',
            status           text        NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'accepted', 'revoked')),
            invited_by       text        NOT NULL,
            created_at       timestamptz NOT NULL,
            expires_at       timestamptz NOT NULL,
            accepted_at      timestamptz,
            accepted_by      text        REFERENCES users (id),
            revoked_at       timestamptz,
            -- An open invitation names exactly one role; deleting a custom role (allowed only
            -- while no open invitation uses it) clears it from closed ones.
            CHECK (status <> 'pending' OR (builtin_role IS NULL) <> (custom_role_id IS NULL)),
            CHECK ((status = 'accepted') = (accepted_at IS NOT NULL)),
            CHECK ((status = 'revoked') = (revoked_at IS NOT NULL)),
            FOREIGN KEY (organization_id, custom_role_id)
                REFERENCES organization_roles (organization_id, id)
                ON DELETE SET NULL (custom_role_id)
        );
        CREATE INDEX organization_invitations_org
            ON organization_invitations (organization_id, id);
        CREATE UNIQUE INDEX organization_invitations_open
            ON organization_invitations (organization_id, email_normalized)
            WHERE status = 'pending';
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE organization_invitations, organization_team_members, organization_teams,"
        " organization_members, organization_roles, organizations"
    )
