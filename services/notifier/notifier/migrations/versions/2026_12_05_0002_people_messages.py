"""people_messages: digest lines waiting for their digest, the queued messages to people (the durable outbox of
the robots, SMS and e-mail channels, so a restart loses nothing) and each channel's recent sends and pause (its
rate limit holds across restarts and replicas).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from leadnet_shared import ddl

revision, down_revision = "0002", "0001"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "people_lines",
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("channel_id", sa.String(80), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("position", sa.String(40), nullable=False),
        sa.Column("dealer", sa.String(32), nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("flush_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        # One line per subject: a task rescheduled replaces its line instead of appearing twice.
        sa.PrimaryKeyConstraint("trigger", "channel_id", "subject", "position", name="pk_people_lines"),
    )
    op.create_index("ix_people_lines_flush_at", "people_lines", ["flush_at"])
    op.create_table(
        "people_messages",
        sa.Column("message_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("channel_id", sa.String(80), nullable=False),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("dealer", sa.String(32), nullable=False),
        sa.Column("position", sa.String(40), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("lines", postgresql.JSONB, nullable=False),
        sa.Column("params", postgresql.JSONB, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # queued | sent | failed
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("last_code", sa.String(60)),
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name="ck_people_messages_status"),
    )
    op.create_index(
        "ix_people_messages_due",
        "people_messages",
        ["not_before", "message_id"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_table(
        "people_channel_sends",
        sa.Column("channel_id", sa.String(80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_people_channel_sends", "people_channel_sends", ["channel_id", "at"])
    op.create_table(
        "people_channel_pauses",
        sa.Column("channel_id", sa.String(80), primary_key=True),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    ddl.drop_tables(op, "people_channel_pauses", "people_channel_sends", "people_messages", "people_lines")
