"""Alembic, run as a step (a command, a Kubernetes Job), never at import or app start."""

from __future__ import annotations

import asyncio

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from leadnet_shared import ddl
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


# The kit tables' DDL lives, frozen, in leadnet_shared.ddl; these names stay for revisions written before it.
kit_tables_migration = ddl.kit_tables_2026_11_22
kit_reliability_migration = ddl.kit_reliability_2026_12_05
kit_reliability_downgrade = ddl.drop_kit_reliability_2026_12_05
