"""The outbox and the inbox on real PostgreSQL and Kafka: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.consumer import BatchHandler, ConsumerLoop, Inbox, inbox_retention
from leadnet_shared.db import Database
from leadnet_shared.events import DEAD_LETTERS, LEADS, Envelope
from leadnet_shared.kafka import start_producer
from leadnet_shared.outbox import Outbox, OutboxRelay, OutboxRow, define_kit_tables
from leadnet_shared.testing import (
    Infra,
    count_rows,
    dead_lettering_consumer,
    effects_table,
    eventually,
    lead_closed,
    new_topic_prefix,
    tables_db,
    topic_reader,
)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

metadata = MetaData()
OUTBOX, INBOX, STATE = define_kit_tables(metadata)
EFFECTS = effects_table(metadata)


async def _database(infra: Infra) -> Database:
    return await tables_db(infra, metadata, pool_size=4)


def _event(lead_id: str = "L1") -> Envelope:
    return lead_closed(lead_id)


async def _read_all(infra: Infra, topic: str, *, expect_at_least: int, settle: float = 1.5) -> list[Envelope]:
    seen: list[Envelope] = []
    async with topic_reader(infra.bootstrap_servers, topic) as consumer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        quiet_since = loop.time()
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                seen.extend(Envelope.from_bytes(m.value or b"") for m in msgs)
            if batch:
                quiet_since = loop.time()
            elif len(seen) >= expect_at_least and loop.time() - quiet_since > settle:
                break
    return seen


def _relay(db: Database, producer: AIOKafkaProducer) -> OutboxRelay:
    return OutboxRelay(db=db, table=OUTBOX, state_table=STATE, producer=producer, service="test")


class TestOutbox:
    async def test_committed_event_is_published_once_after_a_crash_before_publishing(self, infra: Infra) -> None:
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        topic = prefix + LEADS
        event = _event()
        async with db.transaction() as session:  # the process commits, then "dies": no relay ever ran
            await Outbox(OUTBOX).write(
                session, [OutboxRow(topic=topic, key="C1", aggregate_type="lead", envelope=event)]
            )
        producer = await start_producer(infra.bootstrap_servers)
        try:
            first, second = _relay(db, producer), _relay(db, producer)  # the restarted process, and a replica
            sent = await first.publish_batch() + await second.publish_batch()
            assert sent == 1
            assert await first.pending() == 0
        finally:
            await producer.stop()
        received = await _read_all(infra, topic, expect_at_least=1)
        assert [e.id for e in received] == [event.id]
        await db.dispose()

    async def test_rolled_back_transaction_publishes_nothing(self, infra: Infra) -> None:
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        topic = prefix + LEADS
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await Outbox(OUTBOX).write(
                    session, [OutboxRow(topic=topic, key="C1", aggregate_type="lead", envelope=_event())]
                )
                raise RuntimeError("the business change failed")
        producer = await start_producer(infra.bootstrap_servers)
        try:
            assert await _relay(db, producer).publish_batch() == 0
        finally:
            await producer.stop()
        async with db.sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM outbox"))).scalar_one() == 0
        assert await _read_all(infra, topic, expect_at_least=0, settle=1.0) == []
        await db.dispose()

    async def test_new_broker_cluster_gets_the_retained_tail_again(self, infra: Infra) -> None:
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        producer = await start_producer(infra.bootstrap_servers)
        try:
            relay = _relay(db, producer)
            await relay.reconcile_with_broker("cluster-a")
            async with db.transaction() as session:
                await Outbox(OUTBOX).write(
                    session, [OutboxRow(topic=prefix + LEADS, key="C1", aggregate_type="lead", envelope=_event())]
                )
            assert await relay.publish_batch() == 1
            assert await relay.reconcile_with_broker("cluster-a") == 0
            assert await relay.reconcile_with_broker("cluster-b") == 1  # the embedded broker restarted empty
            assert await relay.pending() == 1
        finally:
            await producer.stop()
            await db.dispose()


class TestInbox:
    async def _run_consumer(
        self, infra: Infra, db: Database, topic: str, handler: object, *, prefix: str, max_attempts: int = 3
    ) -> ConsumerLoop:
        loop = dead_lettering_consumer(
            infra, db, topic, handler, prefix=prefix, inbox=INBOX, outbox=OUTBOX, max_attempts=max_attempts
        )  # type: ignore[arg-type]
        await loop.start()
        return loop

    async def test_same_event_delivered_twice_has_one_effect(self, infra: Infra) -> None:
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        topic = prefix + LEADS
        event = _event()

        async def record_effect(session: AsyncSession, envelopes: list[Envelope]) -> None:
            for envelope in envelopes:
                await session.execute(EFFECTS.insert().values(event_id=envelope.id))

        producer = await start_producer(infra.bootstrap_servers)
        for _ in range(2):  # a producer retry or a relay replay delivers the same event twice
            await producer.send_and_wait(topic, event.to_bytes(), key=b"C1")
        await producer.stop()
        loop = await self._run_consumer(infra, db, topic, record_effect, prefix=prefix)
        task = asyncio.create_task(loop.run())

        async def effects() -> int:
            return await count_rows(db, "SELECT count(*) FROM inbox")

        await eventually(effects)
        await asyncio.sleep(1.0)  # give the second copy every chance to be applied
        loop.stop()
        await task
        async with db.sessions() as s:
            assert (await s.execute(text("SELECT count(*) FROM effects"))).scalar_one() == 1
        await db.dispose()

    async def test_a_lost_database_connection_is_survived_and_the_batch_read_again(self, infra: Infra) -> None:
        """The pool does not ping before use: a connection the server dropped fails its transaction. The loop must
        not die with it, and must not skip the events it had fetched: it reads them again from the committed
        offset."""
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers, partitions=1)
        topic = prefix + LEADS
        calls: list[str] = []

        async def handler(session: AsyncSession, envelopes: list[Envelope]) -> None:
            for envelope in envelopes:
                calls.append(envelope.id)
                if len(calls) == 1:  # the server ends this connection mid-transaction (a restart, a failover)
                    await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
                await session.execute(EFFECTS.insert().values(event_id=envelope.id))

        producer = await start_producer(infra.bootstrap_servers)
        event = _event()
        await producer.send_and_wait(topic, event.to_bytes(), key=b"C1")
        await producer.stop()
        loop = await self._run_consumer(infra, db, topic, handler, prefix=prefix, max_attempts=2)
        task = asyncio.create_task(loop.run())

        async def applied() -> int:
            return await count_rows(db, "SELECT count(*) FROM effects")

        assert await eventually(applied, within=30) == 1
        assert not task.done()  # still consuming
        loop.stop()
        await task
        async with db.sessions() as s:
            assert (await s.execute(text("SELECT outcome FROM inbox"))).scalars().all() == ["processed"]
        await db.dispose()

    async def test_failing_handler_is_retried_then_dead_lettered_its_key_parked_and_the_partition_moves_on(
        self, infra: Infra
    ) -> None:
        """A permanent error: retried `max_attempts` times, dead-lettered, and its key parked: the key's later event
        waits (it is not handled out of order) while another key's event goes on. Released by an operator, the
        key's events are replayed in their order."""
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers, partitions=1)
        topic = prefix + LEADS
        poison, healthy, behind = _event("poison"), _event("healthy"), _event("behind")
        attempts: list[str] = []
        broken = True

        async def handler(session: AsyncSession, envelopes: list[Envelope]) -> None:
            for envelope in envelopes:
                attempts.append(envelope.data["lead_id"])
                if envelope.data["lead_id"] == "poison" and broken:
                    raise ValueError("cannot handle this one")
                await session.execute(EFFECTS.insert().values(event_id=envelope.id))

        producer = await start_producer(infra.bootstrap_servers)
        await producer.send_and_wait(topic, poison.to_bytes(), key=b"P")
        await producer.send_and_wait(topic, healthy.to_bytes(), key=b"H")
        await producer.send_and_wait(topic, behind.to_bytes(), key=b"P")
        loop = await self._run_consumer(infra, db, topic, handler, prefix=prefix, max_attempts=3)
        task = asyncio.create_task(loop.run())
        relay = _relay(db, producer)

        async def book() -> dict[str, tuple[str, int]]:
            async with db.sessions() as s:
                rows = (await s.execute(text("SELECT event_id, status, attempts FROM consumer_failures"))).all()
            return {event_id: (status, attempts) for event_id, status, attempts in rows}

        async def parked() -> bool:
            return await book() == {poison.id: ("parked", 3), behind.id: ("waiting", 0)}

        await eventually(parked)
        assert attempts.count("poison") == 4  # in the poll's batch, then three times on its own
        assert "behind" not in attempts  # held behind the parked poison, not handled out of order
        async with db.sessions() as s:
            outcomes: dict[str, str] = dict((await s.execute(text("SELECT event_id, outcome FROM inbox"))).all())
        assert outcomes == {healthy.id: "processed"}
        await relay.drain()
        dead = await _read_all(infra, prefix + DEAD_LETTERS, expect_at_least=1)
        assert len(dead) == 1
        assert dead[0].type == "leadnet.event.dead_lettered"
        assert dead[0].data["attempts"] == 3
        # Ids, not the event (docs/privacy.md): the event is found again at its topic, partition and offset.
        assert (dead[0].data["failed_event_id"], dead[0].data["offset"], dead[0].data["key"]) == (poison.id, 0, "P")
        assert "original" not in dead[0].data

        broken = False  # the cause is fixed; the operator releases the key (docs/operations.md)
        async with db.transaction() as s:
            await s.execute(text("UPDATE consumer_failures SET status = 'released' WHERE event_key = 'P'"))
        await eventually(lambda: _empty(book))
        loop.stop()
        await task
        await producer.stop()
        assert attempts[-2:] == ["poison", "behind"]
        async with db.sessions() as s:
            effects = (await s.execute(text("SELECT event_id FROM effects ORDER BY id"))).scalars().all()
        assert effects == [healthy.id, poison.id, behind.id]
        await db.dispose()


async def _empty(book: Callable[[], Awaitable[dict[str, tuple[str, int]]]]) -> bool:
    return not await book()


class TestBatchInbox:
    async def _loop(
        self, infra: Infra, db: Database, topic: str, *, prefix: str, handler: BatchHandler
    ) -> ConsumerLoop:
        # Replays every 5 s, ConsumerLoop's default: these tests need no quick replays.
        options = {"inbox": INBOX, "outbox": OUTBOX, "name": "batch-consumer", "replay_interval": 5.0}
        loop = dead_lettering_consumer(infra, db, topic, handler, prefix=prefix, max_attempts=2, **options)
        await loop.start()
        return loop

    async def test_a_poll_is_claimed_once_and_handled_together_with_duplicates_dropped(self, infra: Infra) -> None:
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers, partitions=1)
        topic = prefix + LEADS
        events = [_event(f"L{i}") for i in range(5)]
        batches: list[list[str]] = []

        async def batch(session: AsyncSession, envelopes: list[Envelope]) -> None:
            batches.append([e.data["lead_id"] for e in envelopes])
            for e in envelopes:
                await session.execute(EFFECTS.insert().values(event_id=e.id))

        producer = await start_producer(infra.bootstrap_servers)
        for e in [*events, events[0], events[3]]:  # two redeliveries inside the same stream
            await producer.send_and_wait(topic, e.to_bytes(), key=b"C1")
        await producer.stop()
        loop = await self._loop(infra, db, topic, prefix=prefix, handler=batch)
        task = asyncio.create_task(loop.run())

        async def five() -> bool:
            return await count_rows(db, "SELECT count(*) FROM effects") == 5

        await eventually(five)
        await asyncio.sleep(0.5)
        loop.stop()
        await task
        assert sorted(x for b in batches for x in b) == [f"L{i}" for i in range(5)]
        assert all(len(b) > 1 for b in batches)  # never the one-by-one fallback
        async with db.sessions() as s:
            assert (await s.execute(text("SELECT count(*) FROM effects"))).scalar_one() == 5
        await db.dispose()

    async def test_a_failing_batch_falls_back_to_one_by_one_and_dead_letters_only_the_poison(
        self, infra: Infra
    ) -> None:
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers, partitions=1)
        topic = prefix + LEADS
        events = [_event("ok-1"), _event("poison"), _event("ok-2")]  # three customers
        batch_sizes: list[int] = []

        async def batch(session: AsyncSession, envelopes: list[Envelope]) -> None:
            batch_sizes.append(len(envelopes))
            for e in envelopes:
                if e.data["lead_id"] == "poison":
                    raise ValueError("bad event")
                await session.execute(EFFECTS.insert().values(event_id=e.id))

        producer = await start_producer(infra.bootstrap_servers)
        for e in events:
            await producer.send_and_wait(topic, e.to_bytes(), key=e.data["lead_id"].encode())
        loop = await self._loop(infra, db, topic, prefix=prefix, handler=batch)
        task = asyncio.create_task(loop.run())

        async def two() -> bool:
            async with db.sessions() as s:
                return bool((await s.execute(text("SELECT count(*) FROM effects"))).scalar_one() == 2)

        await eventually(two)
        loop.stop()
        await task
        await producer.stop()
        async with db.sessions() as s:
            outcomes: dict[str, str] = dict((await s.execute(text("SELECT event_id, outcome FROM inbox"))).all())
        assert outcomes == {events[0].id: "processed", events[2].id: "processed"}
        async with db.sessions() as s:
            assert (await s.execute(text("SELECT event_id, status FROM consumer_failures"))).all() == [
                (events[1].id, "parked")
            ]
        assert batch_sizes.count(1) >= 2  # the poison was isolated by the same handler, on batches of one
        await db.dispose()


class TestInboxRetention:
    def test_retention_is_twice_the_topic_retention_and_none_for_compacted_topics(self) -> None:
        assert inbox_retention("leadnet.lead.closed") == timedelta(days=60)  # leads: 30 days
        assert inbox_retention("leadnet.ledger.entry_posted") == timedelta(days=800)  # ledger: 400 days
        assert inbox_retention("leadnet.customer.upserted") is None  # compacted: read again after any reset
        assert inbox_retention("leadnet.dealer.upserted") is None
        assert inbox_retention("leadnet.something.new") is None  # unknown: kept

    async def test_purge_forgets_only_ids_that_cannot_be_delivered_again(self, infra: Infra) -> None:
        db = await _database(infra)
        now = datetime(2026, 12, 5, tzinfo=UTC)
        rows = [
            ("old-lead", "leadnet.lead.closed", now - timedelta(days=61)),
            ("recent-lead", "leadnet.lead.closed", now - timedelta(days=59)),
            ("old-customer", "leadnet.customer.upserted", now - timedelta(days=3000)),
            ("old-unknown", "leadnet.something.new", now - timedelta(days=3000)),
            ("old-ledger", "leadnet.ledger.entry_posted", now - timedelta(days=401)),
        ]
        async with db.transaction() as session:
            for event_id, event_type, at in rows:
                await session.execute(
                    INBOX.insert().values(consumer="c", event_id=event_id, event_type=event_type, processed_at=at)
                )
        inbox = Inbox(INBOX)
        async with db.transaction() as session:
            assert await inbox.purge(session, now=now) == 1
        async with db.sessions() as session:
            kept = sorted((await session.execute(text("SELECT event_id FROM inbox"))).scalars())
        assert kept == ["old-customer", "old-ledger", "old-unknown", "recent-lead"]
        async with db.transaction() as session:  # a kept id still turns a redelivery away
            assert await inbox.claim(session, consumer="c", event_id="recent-lead", event_type="x") is False
        await db.dispose()
