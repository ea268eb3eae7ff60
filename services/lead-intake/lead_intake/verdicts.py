"""Waiting for the router's verdict: a caller gets 201/409 within the wait budget, else 202.

The verdict reaches intake as an event, in whichever replica's consumer gets it; that consumer updates the lead row
and `pg_notify`s in the same transaction, and every replica LISTENs, so the replica holding the waiting request
wakes up wherever the event was consumed.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

log = logging.getLogger(__name__)

CHANNEL = "lead_verdict"


class VerdictWaiter:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self.dsn)
        await self._conn.add_listener(CHANNEL, self._on_notify)

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def _on_notify(self, _conn: object, _pid: int, _channel: str, lead_id: str) -> None:
        self.resolve(lead_id)

    def resolve(self, lead_id: str) -> None:
        for fut in self._waiters.pop(lead_id, []):
            if not fut.done():
                fut.set_result(None)

    def expect(self, lead_id: str) -> asyncio.Future[None]:
        """Register interest before the record commits, so a fast verdict cannot slip past unseen."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(lead_id, []).append(fut)
        return fut

    def forget(self, lead_id: str, fut: asyncio.Future[None]) -> None:
        futures = self._waiters.get(lead_id)
        if futures and fut in futures:
            futures.remove(fut)
            if not futures:
                self._waiters.pop(lead_id, None)

    async def wait(self, lead_id: str, fut: asyncio.Future[None], timeout: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.forget(lead_id, fut)
