"""The consumer loop under what Kafka and PostgreSQL do in production: a rebalance in the middle of a batch, a
transient error retried until it passes, a permanent one dead-lettered with an attempt count that outlives the
process (even one that dies inside the handler)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sized
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.consumer import CONSUMED, BatchHandler, ConsumerLoop
from leadnet_shared.db import Database
from leadnet_shared.events import LEADS, Envelope
from leadnet_shared.kafka import start_producer
from leadnet_shared.outbox import define_kit_tables
from leadnet_shared.testing import (
    Infra,
    count_rows,
    effects_table,
    eventually,
    lead_closed,
    lead_consumer,
    new_topic_prefix,
    tables_db,
)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

metadata = MetaData()
OUTBOX, INBOX, STATE = define_kit_tables(metadata)
EFFECTS = effects_table(metadata)
CONTENDED = Table("contended", metadata, Column("id", Integer, primary_key=True))


async def _database(infra: Infra) -> Database:
    db = await tables_db(infra, metadata, pool_size=6)
    async with db.transaction() as session:
        await session.execute(CONTENDED.insert().values(id=1))
    return db


def _event(lead_id: str) -> Envelope:
    return lead_closed(lead_id, subject=lead_id)


async def _published(infra: Infra, events: list[Envelope], *, partitions: int = 1) -> tuple[Database, str, str]:
    """A fresh database, and a new topic prefix whose leads topic holds `events`: (database, prefix, topic)."""
    db = await _database(infra)
    prefix = await new_topic_prefix(infra.bootstrap_servers, partitions=partitions)
    await _publish(infra, prefix + LEADS, events)
    return db, prefix, prefix + LEADS


async def _publish(infra: Infra, topic: str, events: list[Envelope]) -> None:
    producer = await start_producer(infra.bootstrap_servers)
    try:
        for event in events:
            await producer.send(topic, event.to_bytes(), key=event.data["lead_id"].encode())
        await producer.flush()
    finally:
        await producer.stop()


def _loop(
    infra: Infra, db: Database, topic: str, handler: BatchHandler, *, prefix: str, **options: Any
) -> ConsumerLoop:
    options = {"name": "reliable", "retry_backoff": 0.05, **options}
    return lead_consumer(infra, db, topic, handler, prefix=prefix, inbox=INBOX, outbox=OUTBOX, **options)


async def _book(db: Database) -> list[tuple[str, int]]:
    async with db.sessions() as session:
        return [
            (str(s), int(a))
            for s, a in (
                await session.execute(text("SELECT status, attempts FROM consumer_failures ORDER BY seq"))
            ).all()
        ]


class TestRebalance:
    async def test_a_partition_revoked_mid_batch_loses_nothing_and_handles_nothing_twice(self, infra: Infra) -> None:
        """The second member joins while the first is inside a slow batch: the first finishes and commits before
        the partitions move, survives the rebalance, and every event is handled exactly once across both."""
        events = [_event(f"L{i}") for i in range(400)]
        db, prefix, topic = await _published(infra, events, partitions=4)
        in_batch = asyncio.Event()
        handled: list[str] = []

        async def slow(session: AsyncSession, envelopes: list[Envelope]) -> None:
            # The first batch outlasts a whole rebalance (the second member joins meanwhile); the rest are quick.
            first_batch = not in_batch.is_set()
            in_batch.set()
            await asyncio.sleep(4 if first_batch else 0.05)
            for e in envelopes:
                await session.execute(EFFECTS.insert().values(event_id=e.id))
            handled.extend(e.id for e in envelopes)

        duplicates = CONSUMED.labels("test", "rebalanced", "duplicate")
        before = duplicates._value.get()
        first = _loop(infra, db, topic, slow, prefix=prefix, name="rebalanced", max_records=40)
        await first.start()
        first_task = asyncio.create_task(first.run())
        await asyncio.wait_for(in_batch.wait(), timeout=20)
        second = _loop(infra, db, topic, slow, prefix=prefix, name="rebalanced", max_records=40)
        await second.start()
        second_task = asyncio.create_task(second.run())
        try:
            await eventually(lambda: count_rows(db, "SELECT count(*) FROM effects"), within=60)
            await eventually(lambda: _all_handled(db, len(events)), within=60)
            assert not first_task.done() and not second_task.done()  # both survived the rebalance
            assert second.consumer is not None and second.consumer.assignment()  # and the work was shared
        finally:
            first.stop()
            second.stop()
            await asyncio.gather(first_task, second_task)
        assert sorted(handled) == sorted(e.id for e in events)  # nothing lost, nothing handled twice
        assert duplicates._value.get() == before  # not even redelivered to the inbox
        await db.dispose()


async def _all_handled(db: Database, n: int) -> bool:
    return await count_rows(db, "SELECT count(*) FROM effects") >= n


class TestRetriesAndDeadLetters:
    async def test_a_lock_timeout_is_retried_until_it_passes(self, infra: Infra) -> None:
        """A row held by someone else: the handler's lock wait times out (SQLSTATE 55P03) again and again, more
        times than a permanent error is allowed, and succeeds once the row is free; nothing is dead-lettered."""
        db, prefix, topic = await _published(infra, [_event("L1")])
        tries: list[str] = []

        async def locking(session: AsyncSession, envelopes: list[Envelope]) -> None:
            tries.append(envelopes[0].id)
            await session.execute(text("SET LOCAL lock_timeout = '20ms'"))
            await session.execute(text("SELECT id FROM contended WHERE id = 1 FOR UPDATE"))
            for e in envelopes:
                await session.execute(EFFECTS.insert().values(event_id=e.id))

        async with db.sessions() as holder, holder.begin():  # a long transaction holds the row
            await holder.execute(text("SELECT id FROM contended WHERE id = 1 FOR UPDATE"))
            loop = _loop(
                infra, db, topic, locking, prefix=prefix, max_attempts=2, retryable_attempts=100, retry_backoff_cap=0.2
            )
            task = asyncio.create_task(loop.run())
            await eventually(lambda: _tried(tries, 5), within=30)
            [(status, attempts)] = await _book(db)  # counted, outside the rolled-back work
            assert status == "failing" and attempts > 2  # past the budget of a permanent error
        try:
            await eventually(lambda: count_rows(db, "SELECT count(*) FROM effects"), within=20)
        finally:
            loop.stop()
            await task
        assert await _book(db) == []  # settled: nothing parked, nothing dead-lettered
        assert await count_rows(db, "SELECT count(*) FROM outbox") == 0
        await db.dispose()

    async def test_a_permanent_error_is_dead_lettered_with_a_count_that_outlives_the_loop(self, infra: Infra) -> None:
        db, prefix, topic = await _published(infra, [_event("poison")])
        tries: list[int] = []

        async def failing(session: AsyncSession, envelopes: list[Envelope]) -> None:
            tries.append(len(envelopes))
            raise ValueError("this event can never be applied")

        first = _loop(infra, db, topic, failing, prefix=prefix, max_attempts=3, retry_backoff=30)
        task = asyncio.create_task(first.run())
        await eventually(lambda: _tried(tries, 1))
        first.stop()  # the process goes away while it backs off
        await task
        assert await _book(db) == [("failing", 1)]

        tries.clear()
        second = _loop(infra, db, topic, failing, prefix=prefix, max_attempts=3)
        await _run_until(second, lambda: _parked(db), within=40)
        assert tries == [1, 1]  # attempts two and three: the count went on where the first process left it
        assert await _book(db) == [("parked", 3)]
        assert await count_rows(db, "SELECT count(*) FROM outbox WHERE event_type = 'leadnet.event.dead_lettered'") == 1
        await db.dispose()

    async def test_a_message_that_kills_the_process_is_counted_and_dead_lettered(self, infra: Infra) -> None:
        """The handler never returns (the process is killed inside it, e.g. out of memory): each run counted the
        attempt before calling it, so after `max_attempts` deaths the next process dead-letters it unrun."""
        db, prefix, topic = await _published(infra, [_event("killer")])
        entered = asyncio.Event()

        async def killing(session: AsyncSession, envelopes: list[Envelope]) -> None:
            entered.set()
            await asyncio.sleep(3600)

        for _ in range(3):
            entered.clear()
            loop = _loop(infra, db, topic, killing, prefix=prefix, max_attempts=3)
            task = asyncio.create_task(loop.run())
            await asyncio.wait_for(entered.wait(), timeout=30)
            task.cancel()  # killed
            await asyncio.gather(task, return_exceptions=True)
        entered.clear()
        loop = _loop(infra, db, topic, killing, prefix=prefix, max_attempts=3)
        await _run_until(loop, lambda: _parked(db), within=30)
        assert not entered.is_set()  # not run a fourth time
        assert await count_rows(db, "SELECT count(*) FROM outbox WHERE event_type = 'leadnet.event.dead_lettered'") == 1
        await db.dispose()


async def _run_until(loop: ConsumerLoop, done: Callable[[], Awaitable[object]], *, within: float) -> None:
    """Run the consumer loop until `done` holds, then stop it."""
    task = asyncio.create_task(loop.run())
    try:
        await eventually(done, within=within)
    finally:
        loop.stop()
        await task


async def _tried(tries: Sized, n: int) -> bool:
    return len(tries) >= n


async def _parked(db: Database) -> bool:
    return any(status == "parked" for status, _ in await _book(db))
