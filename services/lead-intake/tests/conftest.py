"""Fixtures the intake tests on the database share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from leadnet_shared.db import Database, make_engine
from leadnet_shared.settings import to_asyncpg_url
from leadnet_shared.testing import Infra, fresh_database


@pytest.fixture
async def intake_db(infra: Infra) -> AsyncIterator[tuple[str, Database]]:
    """A fresh intake database (cloned from the migrated template): its URL and a `Database` on it."""
    url = await fresh_database(infra.database_server_url, "lead_intake")
    db = Database(make_engine(to_asyncpg_url(url), pool_size=4, max_overflow=2))
    try:
        yield url, db
    finally:
        await db.engine.dispose()
