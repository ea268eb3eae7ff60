"""Waiting for the router's verdict: a caller gets 201/409 within the wait budget, else 202.

The verdict reaches intake as an event, in whichever replica's consumer gets it; that consumer updates the lead row
and `pg_notify`s in the same transaction, and every replica LISTENs, so the replica holding the waiting request
wakes up wherever the event was consumed. The notification carries the lead's new state (or only its id when the
state is too large for a notification), so a waiting request usually answers without reading the row again.

The LISTEN connection is watched: a termination listener and a periodic `SELECT 1` notice a lost connection (a
PostgreSQL restart, a failover, a silent network), and it is opened again with backoff. Notifications sent while it
was down are lost, so on reconnecting every waiting request is woken to read its row. `check` is the service's
readiness condition: no listener, no traffic (each request would wait its whole budget).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence

import asyncpg
import orjson

from lead_intake.service import LeadState

log = logging.getLogger(__name__)

CHANNEL = "lead_verdict"

Waiting = asyncio.Future[LeadState | None]


class VerdictWaiter:
    def __init__(self, dsn: str, *, ping_every: float = 5.0, max_backoff: float = 10.0) -> None:
        self.dsn = dsn
        self.ping_every = ping_every
        self.max_backoff = max_backoff
        self._conn: asyncpg.Connection | None = None
        self._waiters: dict[str, list[Waiting]] = {}
        self._lost = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._last_ok = 0.0  # loop time of the last sign of life of the listening connection

    async def start(self) -> None:
        await self._listen()
        self._watcher = asyncio.create_task(self._watch(), name="verdict-listener")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        await self._drop()

    async def check(self) -> None:
        """Readiness: the listening connection is open and answered a ping lately."""
        quiet = asyncio.get_running_loop().time() - self._last_ok
        if self._conn is None or self._conn.is_closed() or quiet > 3 * self.ping_every:
            raise RuntimeError("the verdict listener is not connected")

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=5)
        conn.add_termination_listener(self._on_terminated)
        await conn.add_listener(CHANNEL, self._on_notify)
        self._conn = conn
        self._lost.clear()
        self._last_ok = asyncio.get_running_loop().time()

    def _on_terminated(self, _conn: object) -> None:
        self._lost.set()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):  # already broken: closing it is only tidying up
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()

    async def _watch(self) -> None:
        """Ping the listening connection; when it is lost, listen again (capped, jittered backoff)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout=self.ping_every)
            if not self._lost.is_set():
                try:
                    assert self._conn is not None
                    await self._conn.fetchval("SELECT 1", timeout=self.ping_every)
                    self._last_ok = asyncio.get_running_loop().time()
                    continue
                except Exception as exc:
                    log.warning("verdict listener: ping failed (%r)", exc)
            await self._reconnect()

    async def _reconnect(self) -> None:
        await self._drop()
        delay = 0.2
        while True:
            try:
                await self._listen()
            except Exception as exc:
                log.warning("verdict listener: reconnect failed (%r); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(self.max_backoff, delay * 2)
                continue
            log.info("verdict listener: listening again")
            # Notifications sent while we were away are lost: wake every waiting request to read its row.
            for lead_id in list(self._waiters):
                self.resolve(lead_id, None)
            return

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
