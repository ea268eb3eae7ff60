"""tasks: what a callback learnt, as data (issue 17 §7; domain.md §4 "How")

A nullable column: added without rewriting the table; existing completions had notes only.
"""

from alembic import op

revision, down_revision = "20261205_task_content", "0005"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("ALTER TABLE tasks ADD COLUMN content jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE tasks DROP COLUMN content")
