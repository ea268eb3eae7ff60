"""Group commit on real PostgreSQL: concurrent callers share transactions, and each is answered after its commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.db import Database
from leadnet_shared.group_commit import CommitQueueFull, GroupCommitter
from leadnet_shared.testing import Infra, tables_db

pytestmark = [pytest.mark.postgres]

metadata = MetaData()
ROWS = Table(
    "rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(20)),
    Column("txid", String(20), nullable=False),
)


class Refused(Exception):
    pass


async def _write(session: AsyncSession, items: list[int]) -> Sequence[str | BaseException]:
    """Writes each item with the id of the transaction doing it; 13 is refused on its own, 666 breaks the group."""
    if 666 in items:
        await session.execute(text("SELECT 1/0"))
    txid = str((await session.execute(text("SELECT txid_current()"))).scalar_one())
    kept = [i for i in items if i != 13]
    await session.execute(ROWS.insert(), [{"id": i, "name": f"r{i}", "txid": txid} for i in kept])
    return [Refused("13 is refused") if i == 13 else txid for i in items]


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[Database]:
    database = await tables_db(infra, metadata, pool_size=4)
    yield database
    await database.dispose()


async def _committer(db: Database, *, committers: int = 1, max_group: int = 256) -> GroupCommitter[int, str]:
    committer: GroupCommitter[int, str] = GroupCommitter(
        name="test", db=db, apply=_write, max_group=max_group, committers=committers
    )
    committer.start()
    return committer


async def _count(db: Database) -> int:
    async with db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(ROWS))).scalar_one())


class TestGroupCommit:
    async def test_concurrent_callers_share_transactions_and_each_row_is_committed_when_answered(
        self, db: Database
    ) -> None:
        committer = await _committer(db, committers=1, max_group=64)
        try:
            answered: list[int] = []

            async def one(i: int) -> str:
                txid = await committer.submit(i)
                async with db.sessions() as session:  # committed by the time the caller hears back
                    assert (await session.execute(select(ROWS.c.txid).where(ROWS.c.id == i))).scalar_one() == txid
                answered.append(i)
                return txid

            txids = await asyncio.gather(*(one(i) for i in range(100, 300)))
        finally:
            await committer.stop()
        assert sorted(answered) == list(range(100, 300))
        assert await _count(db) == 200
        groups = len(set(txids))
        assert groups < 50, f"200 concurrent callers took {groups} transactions"
        assert max(txids.count(t) for t in set(txids)) <= 64  # max_group holds

    async def test_a_refused_item_fails_alone_and_its_group_commits(self, db: Database) -> None:
        committer = await _committer(db)
        try:
            outcomes = await asyncio.gather(*(committer.submit(i) for i in (11, 12, 13, 14)), return_exceptions=True)
        finally:
            await committer.stop()
        assert isinstance(outcomes[2], Refused)
        assert all(isinstance(o, str) for i, o in enumerate(outcomes) if i != 2)
        async with db.sessions() as session:
            ids = set((await session.execute(select(ROWS.c.id))).scalars())
        assert ids == {11, 12, 14}

    async def test_a_group_that_fails_is_retried_one_by_one_so_only_the_bad_item_fails(self, db: Database) -> None:
        committer = await _committer(db, committers=1)
        try:
            # Hold the only committer so that all five queue up and form one group.
            async with db.transaction() as session:
                await session.execute(text("LOCK TABLE rows IN EXCLUSIVE MODE"))
                first = asyncio.ensure_future(committer.submit(1))
                await asyncio.sleep(0.2)
                rest = [asyncio.ensure_future(committer.submit(i)) for i in (2, 666, 3, 4)]
                await asyncio.sleep(0.1)
            outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
        finally:
            await committer.stop()
        assert isinstance(outcomes[2], Exception) and not isinstance(outcomes[2], Refused)
        assert [isinstance(o, str) for o in outcomes] == [True, True, False, True, True]
        async with db.sessions() as session:
            ids = set((await session.execute(select(ROWS.c.id))).scalars())
        assert ids == {1, 2, 3, 4}

    async def test_a_caller_that_goes_away_does_not_cancel_the_commit(self, db: Database) -> None:
        committer = await _committer(db)
        try:
            task = asyncio.ensure_future(committer.submit(7))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await committer.submit(8)
        finally:
            await committer.stop()
        async with db.sessions() as session:
            ids = set((await session.execute(select(ROWS.c.id))).scalars())
        assert ids == {7, 8}

    async def test_submit_refuses_when_not_running(self, db: Database) -> None:
        committer: GroupCommitter[int, str] = GroupCommitter(name="idle", db=db, apply=_write)
        with pytest.raises(RuntimeError, match="not running"):
            await committer.submit(1)

    async def test_a_full_queue_refuses_new_callers_with_a_503_to_retry(self, db: Database) -> None:
        """Back-pressure: while the database stalls the committer, callers past `max_waiting` are refused at once
        (503, Retry-After) instead of piling up in memory; the ones queued still commit."""
        committer: GroupCommitter[int, str] = GroupCommitter(
            name="bounded", db=db, apply=_write, committers=1, max_waiting=3
        )
        committer.start()
        try:
            async with db.transaction() as session:  # the database stalls the only committer
                await session.execute(text("LOCK TABLE rows IN EXCLUSIVE MODE"))
                first = asyncio.ensure_future(committer.submit(1))
                await asyncio.sleep(0.2)
                queued = [asyncio.ensure_future(committer.submit(i)) for i in (2, 3, 4)]
                await asyncio.sleep(0)
                with pytest.raises(CommitQueueFull) as refused:
                    await committer.submit(5)
            await asyncio.gather(first, *queued)
        finally:
            await committer.stop()
        assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "1"}
        async with db.sessions() as session:
            ids = set((await session.execute(select(ROWS.c.id))).scalars())
        assert ids == {1, 2, 3, 4}
