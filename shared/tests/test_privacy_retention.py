"""The kit's part in erasure and retention (PIPL), on real PostgreSQL and Kafka: consumers skip tombstones instead
of dead-lettering them, the relay sends a tombstone as a null value, sent personal-data events leave the outbox
after minutes, and a dead letter carries ids, never the event."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.consumer import ConsumerLoop
from leadnet_shared.db import Database
from leadnet_shared.events import (
    CUSTOMERS,
    DEAD_LETTERS,
    LEADS,
    LEADS_INTERNAL,
    PERSONAL_DATA_TYPES,
    TOPICS,
    DeadLetter,
    Envelope,
    LeadSubmitted,
    make_envelope,
    parse_event,
)
from leadnet_shared.kafka import start_producer
from leadnet_shared.outbox import TOMBSTONE, Outbox, OutboxRelay, define_kit_tables
from leadnet_shared.testing import (
    Infra,
    count_rows,
    dead_lettering_consumer,
    eventually,
    first_messages,
    lead_closed,
    new_topic_prefix,
    tables_db,
)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

PHONE = "+8613800138000"
metadata = MetaData()
OUTBOX, INBOX, STATE = define_kit_tables(metadata)


async def _database(infra: Infra) -> Database:
    return await tables_db(infra, metadata, pool_size=4)


def _event(lead_id: str) -> Envelope:
    return lead_closed(lead_id)


def _submitted(lead_id: str) -> LeadSubmitted:
    return LeadSubmitted(
        lead_id=lead_id,
        entered_by="D001",
        entered_by_role="dealer",
        submitted_at=datetime.now(UTC),
        source="walk_in",
        record={"customer": {"name": "张三丰", "phone": PHONE, "address": "山东省潍坊市诸城市密州街道幸福路18号"}},
    )


def _loop(infra: Infra, db: Database, topic: str, handler: Any, *, prefix: str, max_attempts: int = 3) -> ConsumerLoop:
    return dead_lettering_consumer(
        infra, db, topic, handler, prefix=prefix, inbox=INBOX, outbox=OUTBOX, max_attempts=max_attempts
    )


async def _committed(loop: ConsumerLoop, topic: str) -> int | None:
    assert loop.consumer is not None
    return await loop.consumer.committed(TopicPartition(topic, 0))


class TestTombstones:
    @pytest.mark.parametrize("first_batch_fails", [False, True], ids=["batch", "one-by-one"])
    async def test_a_tombstone_is_skipped_not_dead_lettered_and_its_key_keeps_flowing(
        self, infra: Infra, first_batch_fails: bool
    ) -> None:
        """A null value (a compacted topic's tombstone) between two events of its key: both events are handled, the
        tombstone is acknowledged with them, nothing is dead-lettered or parked, on the batch path and on the
        one-by-one path a failed batch takes."""
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers, partitions=1)
        topic = prefix + CUSTOMERS
        before, after = _event("before"), _event("after")
        handled: list[str] = []
        calls = 0

        async def handler(session: AsyncSession, envelopes: list[Envelope]) -> None:
            nonlocal calls
            calls += 1
            if first_batch_fails and calls == 1:
                raise RuntimeError("the batch fails once; each event goes on its own")
            handled.extend(e.data["lead_id"] for e in envelopes)

        producer = await start_producer(infra.bootstrap_servers)
        await producer.send_and_wait(topic, before.to_bytes(), key=b"C1")
        await producer.send_and_wait(topic, None, key=b"C1")
        await producer.send_and_wait(topic, after.to_bytes(), key=b"C1")
        await producer.stop()
        loop = _loop(infra, db, topic, handler, prefix=prefix)
        await loop.start()
        task = asyncio.create_task(loop.run())
        try:
            assert await eventually(lambda: _committed(loop, topic)) == 3  # past the tombstone and the last event
        finally:
            loop.stop()
            await task
        assert handled == ["before", "after"]
        assert await count_rows(db, "SELECT count(*) FROM outbox WHERE event_type = 'leadnet.event.dead_lettered'") == 0
        assert await count_rows(db, "SELECT count(*) FROM consumer_failures") == 0
        await db.dispose()

    async def test_the_relay_sends_a_tombstone_as_a_null_value_in_its_keys_order(self, infra: Infra) -> None:
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers, partitions=1)
        outbox = Outbox(OUTBOX, topic_prefix=prefix)
        now = datetime.now(UTC)
        async with db.transaction() as session:
            await outbox.write(session, [outbox.row(_outgoing(), time=now)])
            await outbox.tombstone(session, topic=CUSTOMERS, key="C1", aggregate_type="customer")
        producer = await start_producer(infra.bootstrap_servers)
        try:
            relay = OutboxRelay(db=db, table=OUTBOX, state_table=STATE, producer=producer, service="test")
            assert await relay.publish_batch() == 2
        finally:
            await producer.stop()
        got = await first_messages(infra.bootstrap_servers, prefix + CUSTOMERS, 2)
        assert [m.key for m in got] == [b"C1", b"C1"]
        assert got[0].value is not None and got[1].value is None
        assert await count_rows(db, "SELECT count(*) FROM outbox WHERE event_type = :t", t=TOMBSTONE) == 1
        await db.dispose()


def _outgoing() -> Any:
    from leadnet_shared.events import CustomerUpserted, MaskedCustomer
    from leadnet_shared.outbox import Outgoing

    data = CustomerUpserted(customer_id="C1", customer=MaskedCustomer(name="张*"), updated_at=datetime.now(UTC))
    return Outgoing(data, key="C1", subject="C1")


class TestPersonalDataPurge:
    def test_lead_submitted_is_the_personal_data_event(self) -> None:
        assert {"leadnet.lead.submitted"} == PERSONAL_DATA_TYPES
        assert all(LeadSubmitted.event_topic == t.name and not t.public for t in TOPICS if t.name == LEADS_INTERNAL)

    async def test_sent_submissions_go_after_minutes_other_rows_stay_for_the_republish_window(
        self, infra: Infra
    ) -> None:
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        outbox = Outbox(OUTBOX, topic_prefix=prefix)
        now = datetime.now(UTC)
        async with db.transaction() as session:
            await outbox.publish(session, _submitted("old"), key="k1", subject="old", time=now)
            await outbox.publish(session, _submitted("recent"), key="k2", subject="recent", time=now)
            await outbox.publish(session, _submitted("unsent"), key="k3", subject="unsent", time=now)
            await outbox.publish(session, parse_event(_event("closed")), key="C1", subject="C1", time=now)
            await session.execute(
                text(
                    "UPDATE outbox SET sent_at = now() - CASE WHEN payload LIKE '%\"recent\"%' "
                    "THEN interval '5 minutes' ELSE interval '20 minutes' END "
                    "WHERE payload NOT LIKE '%\"unsent\"%'"
                )
            )
        producer = await start_producer(infra.bootstrap_servers)
        try:
            relay = OutboxRelay(
                db=db,
                table=OUTBOX,
                state_table=STATE,
                producer=producer,
                service="test",
                retention=timedelta(days=7),
                personal_data_retention=timedelta(minutes=15),
            )
            assert await relay.purge_sent() == 1
            async with db.sessions() as session:
                left = {
                    row[0]
                    for row in await session.execute(
                        text("SELECT CAST(payload AS jsonb) ->> 'subject' FROM outbox ORDER BY seq")
                    )
                }
            # The old sent submission is gone; the recent and the unsent one stay, and so does the other event.
            assert left == {"recent", "unsent", "C1"}
            # The republish after a broker loss still has the non-personal tail (and the recent submission).
            await relay.reconcile_with_broker("cluster-a")
            assert await relay.reconcile_with_broker("cluster-b") == 2
        finally:
            await producer.stop()
        await db.dispose()


class TestDeadLettersCarryIds:
    def test_the_dead_letter_topic_keeps_no_longer_than_the_internal_topic(self) -> None:
        retention = {t.name: t.retention_days for t in TOPICS}
        assert retention[DEAD_LETTERS] is not None and retention[LEADS_INTERNAL] is not None
        assert retention[DEAD_LETTERS] <= retention[LEADS_INTERNAL]

    def test_a_version_1_dead_letter_is_read_without_its_original(self) -> None:
        original = make_envelope(
            data=_submitted("L1"), source="/leadnet/lead-intake", time=datetime.now(UTC), subject="L1"
        )
        old = Envelope(
            id="dl-1",
            type="leadnet.event.dead_lettered",
            source="/leadnet/dedup-router/submitted-leads",
            time=datetime.now(UTC),
            dataschema="/schemas/leadnet.event.dead_lettered/v1",
            data={
                "consumer": "submitted-leads",
                "topic": LEADS_INTERNAL,
                "partition": 3,
                "offset": 42,
                "key": "abc",
                "error": "IntegrityError('duplicate key (phone)=(+8613800138000)')",
                "attempts": 5,
                "original": original.to_bytes().decode(),
                "failed_at": datetime.now(UTC).isoformat(),
            },
        )
        letter = DeadLetter.of(old)
        assert (letter.failed_event_id, letter.failed_event_type, letter.failed_event_source) == (
            original.id,
            "leadnet.lead.submitted",
            "/leadnet/lead-intake",
        )
        assert letter.error_class == "IntegrityError"
        dumped = letter.model_dump_json()
        assert PHONE not in dumped and "张三丰" not in dumped and "original" not in dumped

    async def test_a_dead_letter_names_the_event_and_where_it_is_never_its_content(self, infra: Infra) -> None:
        """A poison event with personal data in it and in its error: the dead letter on the topic carries the
        event's id, type, source, topic, partition, offset, key, the error's class and the consumer, and nothing
        of the event or the error's text; the parked key still replays from the failure book once released."""
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers, partitions=1)
        topic = prefix + LEADS
        poison = _event("poison")
        poison.data["notes"] = f"张三丰 {PHONE}"  # personal data inside the event
        broken = True
        handled: list[str] = []

        async def handler(session: AsyncSession, envelopes: list[Envelope]) -> None:
            for envelope in envelopes:
                if broken:
                    raise ValueError(f"cannot handle {envelope.data['notes']}")  # and in the error's text
                handled.append(envelope.data["lead_id"])

        producer = await start_producer(infra.bootstrap_servers)
        await producer.send_and_wait(topic, poison.to_bytes(), key=b"P")
        loop = _loop(infra, db, topic, handler, prefix=prefix, max_attempts=2)
        await loop.start()
        task = asyncio.create_task(loop.run())
        relay = OutboxRelay(db=db, table=OUTBOX, state_table=STATE, producer=producer, service="test")
        try:
            parked = "SELECT count(*) FROM consumer_failures WHERE status = 'parked'"
            await eventually(lambda: count_rows(db, parked))
            await relay.drain()
            got = await first_messages(infra.bootstrap_servers, prefix + DEAD_LETTERS, 1)
            raw = got[0].value
            assert PHONE.encode() not in raw and "张三丰".encode() not in raw
            dead = Envelope.from_bytes(raw)
            assert dead.dataschema == "/schemas/leadnet.event.dead_lettered/v2"
            assert dead.subject == poison.id
            assert dead.data == {
                "consumer": "test-consumer",
                "topic": topic,
                "partition": 0,
                "offset": 0,
                "key": "P",
                "failed_event_id": poison.id,
                "failed_event_type": "leadnet.lead.closed",
                "failed_event_source": "/test",
                "error_class": "ValueError",
                "attempts": 2,
                "failed_at": dead.data["failed_at"],
            }
            broken = False  # fixed; the operator releases the key: it replays from consumer_failures
            async with db.transaction() as session:
                await session.execute(text("UPDATE consumer_failures SET status = 'released' WHERE event_key = 'P'"))
            await eventually(lambda: _handled(handled))
        finally:
            loop.stop()
            await task
            await producer.stop()
        assert handled == ["poison"]
        await db.dispose()


async def _handled(handled: list[str]) -> bool:
    return bool(handled)
