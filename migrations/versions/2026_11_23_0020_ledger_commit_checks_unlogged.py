"""The ledger's commit-time notes are kept out of the write-ahead log.

`ledger_commit_checks` (revision 0003) holds notes that live only inside one database
transaction: the statement triggers write them as transactions and entries arrive, the
deferred check reads them at COMMIT and deletes them. Logging them bought nothing: after a
crash no transaction is in progress, and every committed one had already deleted its notes,
so an unlogged table (emptied by crash recovery, not copied to standbys, which never post)
keeps exactly the same guarantees. Measured against PostgreSQL 15 with 32 callers posting
single transfers through the group commit, in alternating runs: 2,116 and 2,274 transfers/s
unlogged against 1,577 and 1,784 logged, with the same checks.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-23
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE ledger_commit_checks SET UNLOGGED")


def downgrade() -> None:
    op.execute("ALTER TABLE ledger_commit_checks SET LOGGED")
