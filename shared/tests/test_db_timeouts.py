"""Every pooled session carries the statement and lock timeouts: a statement stuck behind a lock or running away
fails within them, as an error the consumers retry (not one they dead-letter), instead of holding its connection."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from leadnet_shared.consumer import is_retryable
from leadnet_shared.db import Database, make_engine
from leadnet_shared.settings import to_asyncpg_url
from leadnet_shared.testing import Infra, fresh_database

pytestmark = [pytest.mark.postgres]


async def _retryable_failure(db: Database, sql: str) -> str:
    """The SQLSTATE `sql` fails with in a transaction of its own; the failure must be one worth retrying."""
    with pytest.raises(DBAPIError) as failed:
        async with db.transaction() as session:
            await session.execute(text(sql))
    assert is_retryable(failed.value)
    return str(getattr(failed.value.orig, "sqlstate", ""))


async def test_statement_and_lock_timeouts_apply_to_every_session_and_are_retryable(infra: Infra) -> None:
    url = to_asyncpg_url(await fresh_database(infra.database_server_url))
    db = Database(make_engine(url, pool_size=2, statement_timeout_ms=300, lock_timeout_ms=100, command_timeout=10))
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE held (id int PRIMARY KEY)"))
            await session.execute(text("INSERT INTO held VALUES (1)"))
        assert await _retryable_failure(db, "SELECT pg_sleep(5)") == "57014"  # statement timeout

        async with db.transaction() as holder:
            await holder.execute(text("SELECT id FROM held FOR UPDATE"))
            assert await _retryable_failure(db, "UPDATE held SET id = 2") == "55P03"  # lock timeout
        assert not is_retryable(ValueError("a property of the event"))
    finally:
        await db.dispose()
