"""Waiting for the router's verdict: a caller gets 201/409 within the wait budget, else 202.

The verdict reaches intake as an event, in whichever replica's consumer gets it; that consumer updates the lead row
and `pg_notify`s in the same transaction, and every replica LISTENs, so the replica holding the waiting request
wakes up wherever the event was consumed. The notification carries the lead's new state (or only its id when the
state is too large for a notification), so a waiting request usually answers without reading the row again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg
import orjson

from lead_intake.service import LeadState

log = logging.getLogger(__name__)

CHANNEL = "lead_verdict"

Waiting = asyncio.Future[LeadState | None]


class VerdictWaiter:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._waiters: dict[str, list[Waiting]] = {}

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self.dsn)
        await self._conn.add_listener(CHANNEL, self._on_notify)

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload.startswith("{"):
            try:
                state = LeadState.from_json(orjson.loads(payload))
            except (orjson.JSONDecodeError, TypeError):
                log.warning("unreadable verdict notification ignored")
                return
            self.resolve(state.lead_id, state)
        else:
            self.resolve(payload, None)

    def resolve(self, lead_id: str, state: LeadState | None = None) -> None:
        for fut in self._waiters.pop(lead_id, []):
            if not fut.done():
                fut.set_result(state)

    def expect(self, lead_id: str) -> Waiting:
        """Register interest before the record commits, so a fast verdict cannot slip past unseen."""
        fut: Waiting = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(lead_id, []).append(fut)
        return fut

    def forget(self, lead_id: str, fut: Waiting) -> None:
        futures = self._waiters.get(lead_id)
        if futures and fut in futures:
            futures.remove(fut)
            if not futures:
                self._waiters.pop(lead_id, None)

    async def wait(self, lead_id: str, fut: Waiting, *, budget: float) -> LeadState | None:
        """The verdict's state when the notification carried it; None on timeout or an id-only notification."""
        try:
            return await asyncio.wait_for(asyncio.shield(fut), budget)
        except TimeoutError:
            return None
        finally:
            self.forget(lead_id, fut)

    async def wait_all(self, waits: Sequence[tuple[str, Waiting]], *, budget: float) -> dict[str, LeadState | None]:
        """Wait for many verdicts against one shared deadline; returns those that came (a batch's answers)."""
        futures = [fut for _, fut in waits]
        if futures:
            await asyncio.wait(futures, timeout=budget)
        came: dict[str, LeadState | None] = {}
        for lead_id, fut in waits:
            if fut.done() and not fut.cancelled():
                came[lead_id] = fut.result()
            self.forget(lead_id, fut)
        return came
