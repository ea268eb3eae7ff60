"""The outbox relay under what Kafka does in production: replicas keep each key's order, a row that fails holds back
only its own key, a row that keeps failing is parked while the rest flows, and every message says it is a
structured-mode CloudEvent."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import MetaData, text

from leadnet_shared.db import Database
from leadnet_shared.events import LEADS, Envelope
from leadnet_shared.outbox import Outbox, OutboxRelay, OutboxRow, define_kit_tables
from leadnet_shared.testing import Infra, eventually, lead_closed, new_topic_prefix, tables_db, topic_reader

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

metadata = MetaData()
OUTBOX, INBOX, STATE = define_kit_tables(metadata)


async def _database(infra: Infra) -> Database:
    return await tables_db(infra, metadata, pool_size=6)


def _event(lead_id: str, *, padding: int = 0) -> Envelope:
    """A small event, or one padded past a request size limit."""
    return lead_closed(lead_id, padding=padding)


async def _producer(infra: Infra, **config: object) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.bootstrap_servers, acks="all", request_timeout_ms=1000, **config
    )
    await producer.start()
    return producer


Received = list[tuple[str, Envelope, dict[str, bytes]]]


async def _read(infra: Infra, topic: str, *, expect: int, within: float = 30) -> Received:
    """(key, event, headers) of every message of `topic`, once `expect` of them are there."""
    seen: Received = []
    async with topic_reader(infra.bootstrap_servers, topic) as consumer:
        deadline = asyncio.get_running_loop().time() + within
        while len(seen) < expect and asyncio.get_running_loop().time() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=200)).values():
                seen.extend(
                    ((m.key or b"").decode(), Envelope.from_bytes(m.value or b""), dict(m.headers)) for m in msgs
                )
        await asyncio.sleep(0.5)  # and nothing more than that
        for msgs in (await consumer.getmany(timeout_ms=500)).values():
            seen.extend(((m.key or b"").decode(), Envelope.from_bytes(m.value or b""), dict(m.headers)) for m in msgs)
    return seen


def _relay(db: Database, producer: AIOKafkaProducer, **options: object) -> OutboxRelay:
    return OutboxRelay(
        db=db,
        table=OUTBOX,
        state_table=STATE,
        producer=producer,
        service="test",
        retry_backoff=0.05,
        retry_backoff_cap=0.2,
        idle_poll=0.05,
        **options,
    )  # type: ignore[arg-type]


async def _add(db: Database, rows: list[tuple[str, str, Envelope]]) -> None:
    async with db.transaction() as session:
        await Outbox(OUTBOX).write(
            session,
            [
                OutboxRow(topic=topic, key=key, aggregate_type="lead", envelope=envelope)
                for topic, key, envelope in rows
            ],
        )


class TestRelayOrderAndJams:
    async def test_two_relays_keep_each_keys_order_while_one_row_fails(self, infra: Infra) -> None:
        """Customer A's third event is refused by the producers (over their request size limit): it fails again and
        again, A's later events wait behind it, every other key flows, and two relays publishing at once never put
        one key's events out of order. Once the limit is raised, A's events leave in order."""
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers, partitions=3)
        topic = prefix + LEADS
        a = [_event(f"A{i}", padding=300_000 if i == 2 else 0) for i in range(5)]
        others = [(f"K{i % 7}", _event(f"K{i % 7}-{i}")) for i in range(300)]
        await _add(
            db,
            [(topic, "A", a[0]), (topic, "A", a[1]), (topic, "A", a[2])]
            + [(topic, key, e) for key, e in others[:150]]
            + [(topic, "A", a[3]), (topic, "A", a[4])]
            + [(topic, key, e) for key, e in others[150:]],
        )

        async def relays_until(done: object, *, max_request_size: int) -> None:
            producers = [await _producer(infra, max_request_size=max_request_size) for _ in range(2)]
            relays = [_relay(db, p, batch_size=40, max_attempts=1000) for p in producers]
            tasks = [asyncio.create_task(r.run()) for r in relays]
            try:
                await done  # type: ignore[misc]
            finally:
                for relay in relays:
                    relay.stop()
                await asyncio.gather(*tasks)
                for producer in producers:
                    await producer.stop()

        read = asyncio.ensure_future(_read(infra, topic, expect=302))
        await relays_until(read, max_request_size=200_000)
        by_key: dict[str, list[str]] = defaultdict(list)
        for key, envelope, headers in read.result():
            by_key[key].append(envelope.data["lead_id"])
            assert headers["content-type"] == b"application/cloudevents+json; charset=UTF-8"
        assert by_key.pop("A") == ["A0", "A1"]  # A3 and A4 wait behind the failing A2
        for key, lead_ids in by_key.items():  # every other key flowed, each in its order, once
            assert lead_ids == [e.data["lead_id"] for k, e in others if k == key]
        async with db.sessions() as session:
            attempts, error, parked = (
                await session.execute(
                    text("SELECT attempts, last_error, parked_at FROM outbox WHERE event_id = :e"), {"e": a[2].id}
                )
            ).one()
        assert attempts >= 1 and "MessageSizeTooLarge" in error and parked is None  # recorded, still retried

        await relays_until(eventually(lambda: _all_sent(db), within=30), max_request_size=1_000_000)
        after = [e.data["lead_id"] for key, e, _ in await _read(infra, topic, expect=305) if key == "A"]
        assert after == ["A0", "A1", "A2", "A3", "A4"]
        await db.dispose()

    async def test_an_oversized_event_is_parked_while_the_rest_flows(self, infra: Infra) -> None:
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers, partitions=1)
        topic = prefix + LEADS
        big = _event("BIG", padding=300_000)  # over this relay's 200 kB request limit
        await _add(
            db,
            [
                (topic, "A", _event("A0")),
                (topic, "A", big),
                (topic, "A", _event("A2")),
                (topic, "B", _event("B0")),
                (topic, "B", _event("B1")),
            ],
        )
        producer = await _producer(infra, max_request_size=200_000)
        relay = _relay(db, producer, max_attempts=3)
        task = asyncio.create_task(relay.run())
        try:

            async def parked() -> bool:
                async with db.sessions() as session:
                    return bool(
                        (
                            await session.execute(
                                text("SELECT parked_at IS NOT NULL FROM outbox WHERE event_id = :e"), {"e": big.id}
                            )
                        ).scalar_one()
                    )

            await eventually(parked, within=20)
            assert await relay.pending() == 0  # the parked row, and A2 behind it, wait for an operator
            received = [e.data["lead_id"] for _, e, _ in await _read(infra, topic, expect=3)]
            assert received == ["A0", "B0", "B1"]
            async with db.sessions() as session:
                attempts, error = (
                    await session.execute(
                        text("SELECT attempts, last_error FROM outbox WHERE event_id = :e"), {"e": big.id}
                    )
                ).one()
            assert attempts == 3
            assert "MessageSizeTooLarge" in error
        finally:
            relay.stop()
            await task
            await producer.stop()
        # The operator raises the limit and releases the row (docs/operations.md): it leaves, then what waited.
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE outbox SET parked_at = NULL, attempts = 0, next_attempt_at = now() WHERE event_id = :e"),
                {"e": big.id},
            )
        producer = await _producer(infra, max_request_size=1_000_000)
        try:
            await _relay(db, producer).drain(within=20)
        finally:
            await producer.stop()
        received = [e.data["lead_id"] for _, e, _ in await _read(infra, topic, expect=5)]
        assert received == ["A0", "B0", "B1", "BIG", "A2"]
        await db.dispose()


async def _all_sent(db: Database) -> bool:
    async with db.sessions() as session:
        return int((await session.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))).scalar_one()) == 0
