"""Database: async engine, sessions, the declarative base, and the unit of work.

One transaction per request or per consumed message: the unit of work commits or rolls back; services and
repositories only `flush()`. That single transaction is what makes the outbox row and the inbox row atomic with the
state change they describe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg
import orjson
from pydantic_core import to_jsonable_python
from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

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


def make_engine(
    dsn: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pre_ping: bool = False,
    statement_timeout_ms: int = 0,
    lock_timeout_ms: int = 0,
    command_timeout: float | None = None,
) -> AsyncEngine:
    """The engine; the timeouts (0 / None: none) apply to every session of every pooled connection."""
    server_settings = {
        "application_name": "leadnet",
        "timezone": "UTC",
        "statement_timeout": str(statement_timeout_ms),
        "lock_timeout": str(lock_timeout_ms),
        # The server probes an idle connection after a minute and drops it once the client is gone,
        # releasing whatever it held (the default waits for the kernel's two hours).
        "tcp_keepalives_idle": "60",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "6",
    }
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
        connect_args={"server_settings": server_settings, "command_timeout": command_timeout},
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


# Hot-path statements go straight to the session's asyncpg connection, inside the session's transaction.
#
# Why: a statement on the asyncpg connection costs a third of the client CPU of SQLAlchemy's execute path, and the
# hot paths run many per batch or record (figures: docs/performance.md, "Raw asyncpg lane").
#
# The statements stay plain SQL (`$1` placeholders); rows come back as asyncpg Records (by index or column name).
# Errors keep the shape the rest of the code expects: a dropped connection is a `DBAPIError` with
# `connection_invalidated` (the app answers 503 and the pool discards it), a constraint violation an
# `IntegrityError`, any other server error a `DBAPIError`; `.orig` is the asyncpg error, with its `sqlstate`.

_DRIVER = "leadnet_driver_connection"
_LOST = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError, OSError)


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, with the session's transaction begun on it.

    Public SQLAlchemy API only (`get_raw_connection().driver_connection`), so SQLAlchemy needs no upper bound.
    SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its first statement: a statement sent on the raw
    connection before any SQLAlchemy one would run in autocommit, outside the unit of work. So when asyncpg has no
    transaction open yet, an empty statement through SQLAlchemy begins the one SQLAlchemy will commit or roll back
    (one round trip, once per unit of work). The connection is remembered per transaction (looking it up costs as
    much as the statement saves).
    """
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    connection = await session.connection()
    driver: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
    if not driver.is_in_transaction():
        await connection.exec_driver_sql(";")
    session.info[_DRIVER] = (session.sync_session.get_transaction(), driver)
    return driver


async def fetch(session: AsyncSession, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run a hot-path statement in the session's transaction and return its rows."""
    rows: list[asyncpg.Record] = await _on_driver(session, "fetch", sql, args)
    return rows


async def execute(session: AsyncSession, sql: str, *args: Any) -> str:
    """Run a hot-path statement in the session's transaction; returns its status (`UPDATE 3`)."""
    status: str = await _on_driver(session, "execute", sql, args)
    return status


async def _on_driver(session: AsyncSession, method: str, sql: str, args: tuple[Any, ...]) -> Any:
    try:
        return await getattr(await driver_connection(session), method)(sql, *args)
    except Exception as exc:
        translated = await _translated(session, sql, exc)
        if translated is exc:
            raise
        raise translated from exc


async def _translated(session: AsyncSession, sql: str, exc: Exception) -> Exception:
    if isinstance(exc, DBAPIError):
        return exc
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, _LOST):
        cause = cause.__cause__ or cause.__context__
    # SQLAlchemy's own test for a lost connection is whether asyncpg has closed it; asyncpg may report the loss
    # as another error first (a BEGIN on a connection the server ended: "another operation is in progress").
    try:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
    except Exception:  # the session cannot tell us more; the original error stands
        return exc
    closed = driver is None or driver.is_closed()
    if cause is not None or closed:
        # Tell the pool, as SQLAlchemy does for its own statements, so the connection is not handed out again.
        with suppress(Exception):  # already lost; the error below is what the caller must see
            await connection.invalidate(cause or exc)
        return DBAPIError(sql, None, cause or exc, hide_parameters=True, connection_invalidated=True)
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(sql, None, exc, hide_parameters=True)
    if isinstance(exc, asyncpg.PostgresError):
        return DBAPIError(sql, None, exc, hide_parameters=True)
    return exc
