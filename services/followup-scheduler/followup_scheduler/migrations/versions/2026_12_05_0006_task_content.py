"""tasks: what a callback learnt, as data (issue 17 §7; domain.md §4 "How")

A nullable column: added without rewriting the table; existing completions had notes only.

Revision ID: 20261205_task_content
Revises: 0005
Create Date: 2026-12-05
"""

from alembic import op

revision = "20261205_task_content"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("ALTER TABLE tasks ADD COLUMN content jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE tasks DROP COLUMN content")
