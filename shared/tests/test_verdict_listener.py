"""Intake's verdict listener survives a PostgreSQL restart: it notices the lost connection, listens again with
backoff, reports itself not ready meanwhile, and notifications reach waiting requests once more."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from lead_intake.verdicts import CHANNEL, VerdictWaiter
from leadnet_shared.infra import EmbeddedPostgres
from leadnet_shared.testing import eventually

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of this test's own, to restart (the session's is shared)."""
    server = EmbeddedPostgres(tmp_path / "pg").start()
    try:
        yield server
    finally:
        server.stop(quiet=True)


async def _ready(waiter: VerdictWaiter) -> bool:
    try:
        await waiter.check()
    except RuntimeError:
        return False
    return True


async def _down(waiter: VerdictWaiter) -> bool:
    return not await _ready(waiter)


async def test_the_verdict_listener_survives_a_postgresql_restart(own_server: EmbeddedPostgres) -> None:
    dsn = own_server.url + "postgres"
    waiter = VerdictWaiter(dsn, ping_every=0.5, max_backoff=0.5)
    await waiter.start()
    try:
        assert await _ready(waiter)
        waiting = waiter.expect("L-before")
        await asyncio.to_thread(own_server.stop)  # a restart, a failover
        await eventually(lambda: _down(waiter), within=10)  # not ready meanwhile
        await asyncio.to_thread(own_server.start)  # same data directory, same port
        await eventually(lambda: _ready(waiter), within=20)
        assert waiting.done()  # woken to read its row: the notification it waited for may have been lost

        waiting = waiter.expect("L-after")
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, "L-after")
        finally:
            await conn.close()
        await asyncio.wait_for(asyncio.shield(waiting), timeout=5)  # the listener hears notifications again
    finally:
        await waiter.stop()
