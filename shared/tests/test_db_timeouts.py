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


async def test_statement_and_lock_timeouts_apply_to_every_session_and_are_retryable(infra: Infra) -> None:
    url = to_asyncpg_url(await fresh_database(infra.database_server_url))
    db = Database(make_engine(url, pool_size=2, statement_timeout_ms=300, lock_timeout_ms=100, command_timeout=10))
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE held (id int PRIMARY KEY)"))
            await session.execute(text("INSERT INTO held VALUES (1)"))
        with pytest.raises(DBAPIError) as runaway:
            async with db.transaction() as session:
                await session.execute(text("SELECT pg_sleep(5)"))
        assert "57014" in str(getattr(runaway.value.orig, "sqlstate", ""))  # statement timeout
        assert is_retryable(runaway.value)

        async with db.transaction() as holder:
            await holder.execute(text("SELECT id FROM held FOR UPDATE"))
            with pytest.raises(DBAPIError) as blocked:
                async with db.transaction() as session:
                    await session.execute(text("UPDATE held SET id = 2"))
        assert "55P03" in str(getattr(blocked.value.orig, "sqlstate", ""))  # lock timeout
        assert is_retryable(blocked.value)
        assert not is_retryable(ValueError("a property of the event"))
    finally:
        await db.dispose()
