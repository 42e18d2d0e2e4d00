"""Support tickets: a person's questions to finhub's staff and the thread of their messages.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- A person's ticket. `status` is `open` while it waits for staff, `answered` when staff
        -- replied last, `closed` when staff closed it (a reply from the person reopens it).
        CREATE TABLE support_tickets (
            id               text        PRIMARY KEY,
            user_id          text        NOT NULL REFERENCES users (id),
            subject          text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
            category         text        NOT NULL
                             CHECK (category IN ('account', 'payments', 'cards', 'security',
                                                 'other')),
            status           text        NOT NULL DEFAULT 'open'
                             CHECK (status IN ('open', 'answered', 'closed')),
            message_count    integer     NOT NULL DEFAULT 0 CHECK (message_count >= 0),
            created_at       timestamptz NOT NULL,
            updated_at       timestamptz NOT NULL,
            last_message_at  timestamptz NOT NULL,
            closed_at        timestamptz,
            closed_by        text,
            CHECK ((status = 'closed') = (closed_at IS NOT NULL))
        );
        CREATE INDEX support_tickets_by_user ON support_tickets (user_id, id);
        CREATE INDEX support_tickets_by_status ON support_tickets (status, id);
        CREATE INDEX support_tickets_recent ON support_tickets (user_id, created_at);

        -- The thread: what the person wrote and what staff answered, in order.
        CREATE TABLE support_ticket_messages (
            id           text        PRIMARY KEY,
            ticket_id    text        NOT NULL REFERENCES support_tickets (id),
            author_type  text        NOT NULL CHECK (author_type IN ('user', 'staff')),
            author_id    text        NOT NULL,
            body         text        NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
            created_at   timestamptz NOT NULL
        );
        CREATE INDEX support_ticket_messages_thread
            ON support_ticket_messages (ticket_id, created_at, id);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE support_ticket_messages, support_tickets")
