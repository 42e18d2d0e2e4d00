"""The wallet's movements still under way, found without reading its whole feed.

A dashboard asks every time for the lines waiting on the person or still in progress; they
are few, but a wallet's feed can hold years of completed lines, and the feed index would have
to walk all of them to find none. A partial index holds the open lines alone.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE INDEX wallet_activity_open ON wallet_activity (wallet_id, created_at DESC, id DESC)
            WHERE status IN ('requires_action', 'processing');
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX wallet_activity_open")
