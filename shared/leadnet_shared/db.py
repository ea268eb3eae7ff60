"""Database: async engine, sessions, the declarative base, and the unit of work.

One transaction per request or per consumed message: the unit of work commits or rolls back; services and
repositories only `flush()`. That single transaction is what makes the outbox row and the inbox row atomic with the
state change they describe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import orjson
from pydantic_core import to_jsonable_python
from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Declarative base for a service's models; each service subclasses it with its own metadata."""

    __abstract__ = True


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def make_engine(dsn: str, *, pool_size: int = 10, max_overflow: int = 10, pre_ping: bool = False) -> AsyncEngine:
    return create_async_engine(
        dsn,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=pre_ping,  # see Settings.db_pool_pre_ping
        # Statement parameters carry phones and names; errors and logs must name ids, never personal data.
        hide_parameters=True,
        # JSONB values (raw and normalized records, verdicts) are encoded by orjson: the stdlib encoder was a
        # visible share of a bulk batch's time.
        json_serializer=json_text,
        connect_args={"server_settings": {"application_name": "leadnet", "timezone": "UTC"}},
    )


def json_text(value: object) -> str:
    """A JSONB value as the text PostgreSQL reads (also for statements that pass JSON in text arrays)."""
    return orjson.dumps(value, default=to_jsonable_python).decode()


AfterCommit = Callable[[], None]


class Database:
    """The engine and session factory a service holds for its lifetime."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._after_commit: list[AfterCommit] = []

    def on_commit(self, hook: AfterCommit) -> None:
        """Call `hook` after every unit of work that committed (e.g. wake the outbox relay)."""
        self._after_commit.append(hook)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """The unit of work: commit when the block ends normally, roll back when it raises."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
            if session.info.get("outbox_dirty"):
                for hook in self._after_commit:
                    hook()

    async def dispose(self) -> None:
        await self.engine.dispose()
