"""Alembic, run as a step (a command, a Kubernetes Job), never at import or app start."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from leadnet_shared.settings import to_asyncpg_url, to_plain_url


def alembic_config(package: str, dsn: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", f"{package}:migrations")
    cfg.set_main_option("sqlalchemy.url", to_asyncpg_url(dsn).replace("%", "%%"))
    return cfg


def upgrade(package: str, dsn: str, revision: str = "head") -> None:
    ensure_database(dsn)
    command.upgrade(alembic_config(package, dsn), revision)


def ensure_database(dsn: str) -> None:
    """Create the service's database on its server when it is missing (development and tests)."""
    import asyncpg

    plain = to_plain_url(dsn)
    base, _, name = plain.rpartition("/")
    name = name.split("?")[0]

    async def _create() -> None:
        conn = await asyncpg.connect(base + "/postgres")
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(_create())


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's `migrations/env.py`."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            # A migration waiting on a busy table must fail fast rather than stall every request behind it.
            connection.execute(text("SET LOCAL lock_timeout = '5s'"))
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())


def kit_tables_migration(op: Any) -> None:
    """Create the outbox, inbox and kit_state tables (called from each service's first migration)."""
    import sqlalchemy as sa

    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("aggregate_type", sa.String(64), nullable=False),
        sa.Column("aggregate_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["seq"], postgresql_where=sa.text("sent_at IS NULL"))
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("outcome", sa.String(20), nullable=False, server_default="processed"),
    )
    op.create_table(
        "kit_state",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.dialects.postgresql.JSONB, nullable=False),
    )


def kit_reliability_migration(op: Any) -> None:
    """The kit tables' changes of 2026-12-05 (leadnet_shared.outbox.define_kit_tables): outbox rows the relay
    parks, and the consumers' failure book (called from one migration in each service)."""
    import sqlalchemy as sa

    op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_outbox_retrying",
        "outbox",
        ["aggregate_id", "seq"],
        postgresql_where=sa.text("sent_at IS NULL AND attempts > 0"),
    )
    op.create_table(
        "consumer_failures",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retryable", sa.Boolean),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("consumer", "event_id", name="uq_consumer_failures_consumer_event"),
    )
    op.create_index(
        "ix_consumer_failures_held",
        "consumer_failures",
        ["consumer", "event_key"],
        postgresql_where=sa.text("status <> 'failing'"),
    )


def kit_reliability_downgrade(op: Any) -> None:
    op.drop_table("consumer_failures")
    op.drop_index("ix_outbox_retrying", table_name="outbox")
    op.drop_column("outbox", "parked_at")
