"""The pool does not ping before use (Settings.db_pool_pre_ping): a connection the database server dropped fails
its one request with a 503 the caller can retry, and the next request gets a fresh connection."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import text

from leadnet_shared.app import install_problem_handlers
from leadnet_shared.db import Database, make_engine
from leadnet_shared.settings import to_asyncpg_url
from leadnet_shared.testing import Infra, fresh_database

pytestmark = pytest.mark.postgres


async def test_a_dropped_connection_is_a_503_to_retry_and_the_next_request_reconnects(infra: Infra) -> None:
    url = await fresh_database(infra.database_server_url)
    db = Database(make_engine(to_asyncpg_url(url), pool_size=1, max_overflow=0))
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/pid")
    async def pid(request: Request) -> dict[str, Any]:
        async with db.transaction() as session:
            return {"pid": (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()}

    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
        ) as client:
            first = (await client.get("/pid")).json()["pid"]
            # The pool's only connection is idle in the pool now: end it from the server side.
            admin = Database(make_engine(to_asyncpg_url(url), pool_size=1))
            async with admin.transaction() as session:
                assert (await session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})).scalar_one()
            await admin.dispose()

            lost = await client.get("/pid")
            assert lost.status_code == 503
            assert lost.headers["Retry-After"] == "1"
            assert lost.json()["code"] == "unavailable"
            again = await client.get("/pid")
            assert again.status_code == 200
            assert again.json()["pid"] != first
    finally:
        await db.dispose()
