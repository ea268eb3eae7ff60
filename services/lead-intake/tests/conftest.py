"""Fixtures the intake tests on the database share."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from lead_intake.models import Lead
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


def walk_in_record(*, at: datetime, **changes: Any) -> Lead:
    """A record D001's staff entered for a walk-in customer at `at`, under a new id, as intake stores it before its
    verdict; `changes`: the columns a test is about."""
    entered = {"entered_by": "D001", "entered_by_role": "dealer", "caller_key": "dealer:D001", "source": "walk_in"}
    record = {"network_code": None, "raw": {}, "normalized": {}, "status": "pending"}
    return Lead(lead_id=str(uuid.uuid4()), submitted_at=at, **entered, **(record | changes))
