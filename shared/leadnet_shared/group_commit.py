"""Group commit: concurrent requests' writes share one transaction, so one WAL flush serves many callers.

Every durable commit costs a WAL flush (docs/performance.md, "Group commit"), and a request that
saves one row spends most of its database time on round trips (BEGIN, statements, COMMIT) rather than on the row.
Requests that arrive while a commit is in flight queue up here and the next commit takes all of them with
multi-row statements. Nothing is weakened: each caller is answered only after the transaction holding its rows has
committed, exactly as with a transaction of its own.

At low load a request finds a free committer and commits alone (no added wait); under load the groups grow by
themselves. If a group's transaction fails, its items are retried one per transaction so that one bad item fails
alone and the others still commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.db import Database
from leadnet_shared.problems import Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

GROUP_SIZE = Histogram(
    "leadnet_group_commit_size",
    "Requests committed per group-commit transaction",
    ["committer"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)

# Writes every item of a group in the caller's transaction; returns one outcome per item, in order. An outcome
# that is an exception is raised to that item's caller alone (the others still commit): use it for per-item
# refusals decided inside the transaction, such as an Idempotency-Key reused with another body.
ApplyGroup = Callable[[AsyncSession, list[T]], Awaitable[Sequence[R | BaseException]]]


class CommitQueueFull(Unavailable):
    """Back-pressure: more callers wait for a commit than the committer takes (the database is slow or gone).
    Answered 503 with Retry-After rather than queueing without bound; nothing of the request was saved."""

    code = "overloaded"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Too many requests are waiting to be saved ({name}); retry shortly.", headers={"Retry-After": "1"}
        )


@dataclass(slots=True)
class _Pending(Generic[T, R]):
    item: T
    done: asyncio.Future[R] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(kw_only=True, eq=False)
class GroupCommitter(Generic[T, R]):
    """Queues items from concurrent callers and commits them in groups of up to `max_group`.

    `committers` transactions may be in flight at once: while one flushes its WAL, the next group forms and
    starts, which PostgreSQL's own group commit then folds into fewer flushes.
    """

    name: str
    db: Database
    apply: ApplyGroup[T, R]
    max_group: int = 256
    committers: int = 2
    # Each waiting caller holds its request in memory; past this many, new ones are refused (CommitQueueFull).
    max_waiting: int = 10_000
    _queue: asyncio.Queue[_Pending[T, R]] = field(init=False, default_factory=asyncio.Queue)
    _tasks: list[asyncio.Task[None]] = field(init=False, default_factory=list)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"group-commit-{self.name}-{i}") for i in range(self.committers)
        ]

    async def stop(self, *, within: float = 10.0) -> None:
        """Commit what is queued, then stop (the HTTP server has already answered or dropped its requests)."""
        deadline = asyncio.get_running_loop().time() + within
        while not self._queue.empty() and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def submit(self, item: T) -> R:
        """Commit `item` (with whatever else is queued) and return its outcome once the commit is durable."""
        if not self._tasks:
            raise RuntimeError(f"group committer {self.name} is not running")
        if self._queue.qsize() >= self.max_waiting:
            raise CommitQueueFull(self.name)
        pending: _Pending[T, R] = _Pending(item)
        self._queue.put_nowait(pending)
        # A caller that goes away (client disconnect) must not cancel the shared commit: its item is committed
        # or not together with the group's, like a request whose client left after sending it.
        return await asyncio.shield(pending.done)

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < self.max_group and not self._queue.empty():
                group.append(self._queue.get_nowait())
            GROUP_SIZE.labels(self.name).observe(len(group))
            try:
                await self._commit(group)
            except asyncio.CancelledError:
                for pending in group:
                    if not pending.done.done():
                        pending.done.set_exception(RuntimeError("the service is stopping"))
                raise

    async def _commit(self, group: list[_Pending[T, R]]) -> None:
        try:
            outcomes = await self._transaction([p.item for p in group])
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0], exc)
                return
            log.warning(
                "group commit of %d items failed (%s); retrying them one per transaction",
                len(group),
                type(exc).__name__,
            )
            for pending in group:
                try:
                    outcome = (await self._transaction([pending.item]))[0]
                except Exception as single:
                    outcome = single
                _settle(pending, outcome)
            return
        for pending, outcome in zip(group, outcomes, strict=True):
            _settle(pending, outcome)

    async def _transaction(self, items: list[T]) -> Sequence[R | BaseException]:
        async with self.db.transaction() as session:
            outcomes = await self.apply(session, items)
            if len(outcomes) != len(items):  # raised inside the block: the group rolls back
                raise RuntimeError(f"{self.name}: {len(outcomes)} outcomes for {len(items)} items")
        return outcomes


def _settle(pending: _Pending[T, R], outcome: R | BaseException) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):
        if isinstance(outcome, BaseException):
            pending.done.set_exception(outcome)
            # Its caller may have gone (disconnect); reading the exception here keeps asyncio from logging it
            # as never retrieved, while a caller still waiting gets it raised as usual.
            pending.done.add_done_callback(lambda f: f.exception())
        else:
            pending.done.set_result(outcome)
