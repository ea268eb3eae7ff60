"""Hot-path statements sent on the session's asyncpg connection (`db.fetch`, `db.execute`) belong to the unit of
work exactly as SQLAlchemy statements do, and fail with the errors the rest of the code expects."""

from __future__ import annotations

import ast
import inspect
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from leadnet_shared import db as db_module
from leadnet_shared.db import Database, execute, fetch, make_engine
from leadnet_shared.settings import to_asyncpg_url
from leadnet_shared.testing import Infra, fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[Database]:
    url = await fresh_database(infra.database_server_url)
    database = Database(make_engine(to_asyncpg_url(url), pool_size=1, max_overflow=0))
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE items (id text PRIMARY KEY, note text)"))
    yield database
    await database.dispose()


async def ids(db: Database) -> list[str]:
    async with db.transaction() as session:
        return [r[0] for r in await fetch(session, "SELECT id FROM items ORDER BY id")]


class Boom(Exception):
    pass


async def test_a_raw_statement_first_in_a_unit_of_work_rolls_back_with_it(db: Database) -> None:
    # SQLAlchemy begins its transaction lazily, at its first statement: a raw statement sent before any would
    # commit on its own if the helper did not begin the transaction first.
    with pytest.raises(Boom):
        async with db.transaction() as session:
            await execute(session, "INSERT INTO items (id) VALUES ($1)", "a")
            raise Boom
    assert await ids(db) == []


async def test_raw_and_sqlalchemy_statements_share_one_transaction(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO items (id) VALUES ('orm')"))
        assert [r[0] for r in await fetch(session, "SELECT id FROM items")] == ["orm"]
        status = await execute(session, "UPDATE items SET note = $1 WHERE id = ANY($2::text[])", "n", ["orm", "x"])
        assert status == "UPDATE 1"
        assert (await session.execute(text("SELECT note FROM items"))).scalar_one() == "n"
    with pytest.raises(Boom):
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO items (id) VALUES ('later')"))
            await execute(session, "INSERT INTO items (id) VALUES ($1)", "raw")
            raise Boom
    assert await ids(db) == ["orm"]


async def test_a_session_reused_for_a_second_transaction_gets_that_transactions_connection(db: Database) -> None:
    async with db.sessions() as session:
        async with session.begin():
            await execute(session, "INSERT INTO items (id) VALUES ($1)", "first")
        with pytest.raises(Boom):
            async with session.begin():
                await execute(session, "INSERT INTO items (id) VALUES ($1)", "second")
                raise Boom
    assert await ids(db) == ["first"]


async def test_a_constraint_violation_is_an_integrity_error_with_its_sqlstate(db: Database) -> None:
    async with db.transaction() as session:
        await execute(session, "INSERT INTO items (id) VALUES ($1)", "k")
    with pytest.raises(IntegrityError) as caught:
        async with db.transaction() as session:
            await execute(session, "INSERT INTO items (id) VALUES ($1)", "k")
    assert caught.value.orig.sqlstate == "23505"  # type: ignore[union-attr]
    with pytest.raises(DBAPIError) as other:
        async with db.transaction() as session:
            await fetch(session, "SELECT 1/0")
    assert not other.value.connection_invalidated


async def test_a_dropped_connection_is_invalidated_and_the_next_unit_of_work_reconnects(
    db: Database, infra: Infra
) -> None:
    async with db.transaction() as session:
        first = (await fetch(session, "SELECT pg_backend_pid()"))[0][0]
    # The pool's only connection is idle in it now: end it from the server side.
    async with db.engine.connect() as _:
        pass
    admin = Database(make_engine(db.engine.url.render_as_string(hide_password=False), pool_size=1))
    async with admin.transaction() as session:
        await session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
    await admin.dispose()

    with pytest.raises(DBAPIError) as lost:
        async with db.transaction() as session:
            await execute(session, "INSERT INTO items (id) VALUES ($1)", "lost")
    assert lost.value.connection_invalidated
    async with db.transaction() as session:
        again = (await fetch(session, "SELECT pg_backend_pid()"))[0][0]
    assert again != first
    assert await ids(db) == []


def test_the_raw_lane_reaches_asyncpg_through_public_sqlalchemy_api_only() -> None:
    # Private names of SQLAlchemy's asyncpg adapter pinned the kit below the next SQLAlchemy release; the lane must
    # keep working on any 2.x, so db.py touches no underscore attribute but its own (self._...).
    tree = ast.parse(inspect.getsource(db_module))
    private = sorted(
        {
            f"{ast.unparse(node.value)}.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")
        }
    )
    assert private == []
