"""The DDL several services' migrations share, frozen as it ran.

A revision must build the same schema on every database whenever it runs, so the tables below are never edited
once a revision calls them: each function is named by what it created and the date of the revisions that call
it, and a later change to a kit table is a new function (`..._2027_01_10`) called by one new revision in each
service. A revision that is nothing but one of these steps names it, `upgrade, downgrade = ddl.X, ddl.drop_X`
(they default to alembic's `op`: alembic calls them without arguments). `shared/tests/test_migrations.py` dumps
the schema after every revision, up and down, to show that a change here or in a revision alters nothing that ran.

The helpers at the end issue exactly the statements they are given and add nothing of their own; the whole-revision
builders after them (`upgrade, downgrade = ddl.tables_revision(...)`) add only the lock timeout every upgrade starts
with. Tables are written as SQL definitions with every constraint named (the names the metadata's naming convention
gave when the revision ran), so what a revision builds no longer depends on today's models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op as alembic_op


def kit_tables_2026_11_22(op: Any) -> None:
    """The outbox, inbox and kit_state tables (each service's first revision)."""
    create_table(
        "outbox",
        "seq bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_outbox PRIMARY KEY",
        "event_id varchar(64) NOT NULL CONSTRAINT uq_outbox_event_id UNIQUE",
        "topic varchar(200) NOT NULL",
        "aggregate_type varchar(64) NOT NULL",
        "aggregate_id varchar(200) NOT NULL",
        "event_type varchar(120) NOT NULL",
        "payload text NOT NULL",
        "created_at timestamptz DEFAULT now() NOT NULL",
        "sent_at timestamptz",
        "attempts integer DEFAULT '0' NOT NULL",
        "next_attempt_at timestamptz DEFAULT now() NOT NULL",
        "last_error text",
        op=op,
    )
    op.create_index("ix_outbox_unsent", "outbox", ["seq"], postgresql_where=sa.text("sent_at IS NULL"))
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    create_table(
        "inbox",
        "consumer varchar(100) NOT NULL",
        "event_id varchar(64) NOT NULL",
        "event_type varchar(120) NOT NULL",
        "processed_at timestamptz DEFAULT now() NOT NULL",
        "outcome varchar(20) DEFAULT 'processed' NOT NULL",
        "CONSTRAINT pk_inbox PRIMARY KEY (consumer, event_id)",
        op=op,
    )
    create_table(
        "kit_state",
        "key varchar(100) CONSTRAINT pk_kit_state PRIMARY KEY",
        "value jsonb NOT NULL",
        op=op,
    )


def drop_kit_tables_2026_11_22(op: Any) -> None:
    drop_tables(op, "kit_state", "inbox", "outbox")


def kit_reliability_2026_12_05(op: Any = alembic_op) -> None:
    """Outbox rows the relay parks after repeated publish failures, and the consumers' failure book (attempts
    counted outside the rolled-back transaction, events held behind a parked key)."""
    op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_outbox_retrying",
        "outbox",
        ["aggregate_id", "seq"],
        postgresql_where=sa.text("sent_at IS NULL AND attempts > 0"),
    )
    create_table(
        "consumer_failures",
        "seq bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_consumer_failures PRIMARY KEY",
        "consumer varchar(100) NOT NULL",
        "event_id varchar(64) NOT NULL",
        "event_type varchar(120) NOT NULL",
        "event_key varchar(200) NOT NULL",
        "topic varchar(200) NOT NULL",
        "partition integer NOT NULL",
        '"offset" bigint NOT NULL',
        "payload text NOT NULL",
        "status varchar(20) NOT NULL",
        "attempts integer DEFAULT '0' NOT NULL",
        "retryable boolean",
        "last_error text",
        "created_at timestamptz DEFAULT now() NOT NULL",
        "updated_at timestamptz DEFAULT now() NOT NULL",
        "CONSTRAINT uq_consumer_failures_consumer_event UNIQUE (consumer, event_id)",
        op=op,
    )
    op.create_index(
        "ix_consumer_failures_held",
        "consumer_failures",
        ["consumer", "event_key"],
        postgresql_where=sa.text("status <> 'failing'"),
    )


def drop_kit_reliability_2026_12_05(op: Any = alembic_op) -> None:
    op.drop_table("consumer_failures")
    op.drop_index("ix_outbox_retrying", table_name="outbox")
    op.drop_column("outbox", "parked_at")


def idempotency_keys_2026_11_22(op: Any, table: str, *after_request_hash: str) -> None:
    """A table of Idempotency-Keys (the columns of `leadnet_shared.idempotency.idempotency_table`); intake's keys
    also name their lead, in a column that stands after `request_hash`."""
    create_table(
        table,
        "caller_key varchar(80) NOT NULL",
        "key varchar(200) NOT NULL",
        "request_hash varchar(64) NOT NULL",
        *after_request_hash,
        "status_code integer",
        "response jsonb",
        "created_at timestamptz DEFAULT now() NOT NULL",
        f"CONSTRAINT pk_{table} PRIMARY KEY (caller_key, key)",
        op=op,
    )
    op.create_index(f"ix_{table}_created_at", table, ["created_at"])


def dealer_directory_2026_11_22(op: Any) -> None:
    """The dealers' status as a service copies it from `leadnet.public.dealers.v1` (the columns of
    `leadnet_shared.dealer_directory.dealer_directory_table`)."""
    create_table(
        "dealers",
        "code varchar(32) CONSTRAINT pk_dealers PRIMARY KEY",
        "status varchar(20) NOT NULL",
        "updated_at timestamptz NOT NULL",
        op=op,
    )


def lead_version_2026_12_05(op: Any = alembic_op) -> None:
    """leads: the router's `lead_version` of the facts a consumer last applied (review M4), so an older fact that
    arrives late never overwrites a newer one; 0: nothing versioned applied yet. A constant default: PostgreSQL 11+
    adds the column without rewriting the table."""
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("ALTER TABLE leads ADD COLUMN lead_version integer NOT NULL DEFAULT 0")


def drop_lead_version_2026_12_05(op: Any = alembic_op) -> None:
    op.execute("ALTER TABLE leads DROP COLUMN lead_version")


# A lead's life cycle after routing as columns that commute (earliest close, highest rounds returned and reopened),
# in intake and the router. Nullable columns and constant defaults: no table rewrite.
LEAD_LIFE_CYCLE_2026_12_05 = (
    "closed_at timestamptz",
    "closed_reason varchar(40)",
    "return_round integer NOT NULL DEFAULT 0",
    "reopen_round integer NOT NULL DEFAULT 0",
)


# ---- helpers: the statements they are given, nothing more -------------------------------------------------------


def create_table_sql(table: str, *definitions: str) -> str:
    """`CREATE TABLE table (definitions)`: columns and constraints as PostgreSQL reads them, every constraint named
    in the revision itself (the names `leadnet_shared.db.NAMING_CONVENTION` gave when it ran)."""
    return f"CREATE TABLE {table} ({', '.join(definitions)})"


def create_table(table: str, *definitions: str, op: Any = alembic_op) -> None:
    op.execute(create_table_sql(table, *definitions))


def execute_all(op: Any, statements: tuple[str, ...]) -> None:
    for statement in statements:
        op.execute(statement)


def added_columns(table: str, *columns: str) -> tuple[str, ...]:
    """`ALTER TABLE table ADD COLUMN ...`, one statement per column definition, in order."""
    return tuple(f"ALTER TABLE {table} ADD COLUMN {column}" for column in columns)


def dropped_columns(table: str, *columns: str) -> tuple[str, ...]:
    """Drop the columns named or defined (`name type ...`), last first: the downgrade of `added_columns`."""
    return tuple(f"ALTER TABLE {table} DROP COLUMN {column.split()[0]}" for column in reversed(columns))


def dropped_tables(*tables: str) -> tuple[str, ...]:
    return tuple(f"DROP TABLE {table}" for table in tables)


def drop_tables(op: Any, *tables: str) -> None:
    execute_all(op, dropped_tables(*tables))


# ---- whole revisions: `upgrade, downgrade = ddl.X(...)` where a revision is statements and their undoing --------

Revision = tuple[Callable[[], None], Callable[[], None]]


def sql_revision(up: tuple[str, ...], down: tuple[str, ...]) -> Revision:
    """A revision's `upgrade` (the lock timeout every upgrade starts with, CONTRIBUTING.md, then `up`) and
    `downgrade` (`down`)."""

    def upgrade() -> None:
        execute_all(alembic_op, ("SET LOCAL lock_timeout = '5s'", *up))

    def downgrade() -> None:
        execute_all(alembic_op, down)

    return upgrade, downgrade


def columns_revision(table: str, *columns: str) -> Revision:
    """A revision that adds columns to one table; its downgrade drops them."""
    return sql_revision(added_columns(table, *columns), dropped_columns(table, *columns))


def tables_revision(*tables: tuple[str, ...], indexes: tuple[str, ...] = ()) -> Revision:
    """A revision that creates new tables, each `(name, *definitions)`, then their indexes (`CREATE INDEX`
    statements); its downgrade drops the tables, last first."""
    names = tuple(table[0] for table in tables)
    creates = tuple(create_table_sql(*table) for table in tables)
    return sql_revision((*creates, *indexes), dropped_tables(*reversed(names)))
