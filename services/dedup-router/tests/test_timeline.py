"""The customer timeline's consumer (issue 17 §7) on a real broker and the router's migrated database: every fact
about a customer kept generically, whatever its type (types added later by other services included), in time order;
tombstones of the compacted customers topic, snapshots and events naming no customer acknowledged and left out;
a redelivered event kept once."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from dedup_router.models import INBOX, OUTBOX, TimelineEntry
from dedup_router.repository.customer_file import page_of_timeline
from dedup_router.timeline import TIMELINE_TYPES, record_events
from leadnet_shared.auth import Principal
from leadnet_shared.consumer import ConsumerLoop, Inbox
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import CUSTOMERS, LEADS, TASKS, Envelope, new_event_id
from leadnet_shared.kafka import start_producer
from leadnet_shared.outbox import Outbox
from leadnet_shared.pagination import MAX_LIMIT, PageParams
from leadnet_shared.settings import to_asyncpg_url
from leadnet_shared.testing import Infra, eventually, fresh_database, new_topic_prefix, polls

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def _event(event_type: str, data: dict[str, object], *, at: datetime, event_id: str | None = None) -> Envelope:
    return Envelope(id=event_id or new_event_id(), type=event_type, source="/leadnet/test", time=at, data=data)


async def _database(infra: Infra) -> Database:
    url = await fresh_database(infra.database_server_url, "dedup_router")
    return Database(make_engine(to_asyncpg_url(url), pool_size=4))


async def _timeline(db: Database, customer_id: str, principal: Principal | None = None) -> list[TimelineEntry]:
    async with db.sessions() as session:
        if principal:
            return (await page_of_timeline(session, customer_id, principal, PageParams(limit=MAX_LIMIT))).rows
        query = select(TimelineEntry).where(TimelineEntry.customer_id == customer_id)
        return list(
            (await session.execute(query.order_by(TimelineEntry.occurred_at, TimelineEntry.event_id))).scalars()
        )


@pytest.mark.postgres
class TestGenericFacts:
    async def test_known_and_unknown_types_are_kept_in_time_order_once_each(self, infra: Infra) -> None:
        db = await _database(infra)
        try:
            returned = _event(
                "leadnet.lead.returned",  # a type this code has no model for
                {"lead_id": "L1", "customer_id": "C1", "reason": "invalid", "actor": "carol@hq", "brand_new": [1]},
                at=T0 + timedelta(hours=2),
            )
            accepted = _event(
                "leadnet.lead.accepted",
                {"lead_id": "L1", "customer_id": "C1", "entered_by": "D002", "assigned_dealer": "D001"},
                at=T0,
            )
            posting = _event(
                "leadnet.ledger.entry_posted",
                {"entry_id": "E1", "customer_id": "C1", "dealer": "D002", "kind": "info_fee", "amount_fen": 200},
                at=T0 + timedelta(hours=1),
            )
            reminder = _event("leadnet.plan.reminder", {"dealer": "D001", "plan": "callback"}, at=T0)
            foreign = _event(
                "leadnet.someone.elses", {"customer_id": "C" * 80, "dealer": "D" * 80, "actor": 7}, at=T0
            )  # names nothing the registry could hold: skipped, not a failed batch
            odd = _event("leadnet.x.odd", {"customer_id": "C1", "dealer": "D" * 80, "actor": 7}, at=T0 - timedelta(1))
            async with db.transaction() as session:
                await record_events(session, [returned, accepted, posting, reminder, foreign, odd])
            async with db.transaction() as session:
                await record_events(session, [returned])  # redelivered
            entries = await _timeline(db, "C1")
            assert [(e.type, e.dealer, e.actor) for e in entries] == [
                ("leadnet.x.odd", None, None),
                ("leadnet.lead.accepted", "D002", None),
                ("leadnet.ledger.entry_posted", "D002", None),
                ("leadnet.lead.returned", None, "carol@hq"),
            ]
            assert entries[3].summary["brand_new"] == [1]  # unknown fields kept as they came
            # The assigned dealer reads the story, but not what another dealer is paid.
            d001 = Principal(sub="d", role="dealer", dealer="D001")
            assert [e.type for e in await _timeline(db, "C1", d001)] == [
                "leadnet.x.odd",
                "leadnet.lead.accepted",
                "leadnet.lead.returned",
            ]
        finally:
            await db.dispose()


_db: Database | None = None
TYPES = ["leadnet.lead.accepted", "leadnet.task.completed", "leadnet.lead.returned", "leadnet.x.brand_new"]
facts = st.lists(
    st.tuples(st.sampled_from(TYPES), st.integers(0, 3), st.sampled_from(["C1", "C2"])),
    min_size=1,
    max_size=10,
)


@pytest.mark.postgres
class TestOrderIndependence:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(facts=facts, order=st.randoms(use_true_random=False), cuts=st.sets(st.integers(1, 12)))
    async def test_the_timeline_does_not_depend_on_arrival_order_batching_or_redelivery(
        self, infra: Infra, facts: list[tuple[str, int, str]], order: random.Random, cuts: set[int]
    ) -> None:
        global _db
        if _db is None:
            _db = await _database(infra)
        async with _db.transaction() as session:
            await session.execute(text("TRUNCATE customer_timeline"))
        events = [
            _event(kind, {"customer_id": customer, "n": i}, at=T0 + timedelta(minutes=minute), event_id=f"e{i:02d}")
            for i, (kind, minute, customer) in enumerate(facts)
        ]
        delivered = events + events[: len(events) // 2]  # some delivered twice
        order.shuffle(delivered)
        for poll in polls(delivered, cuts):
            async with _db.transaction() as session:
                await record_events(session, list(poll))
        for customer in ("C1", "C2"):
            expected = sorted((e.time, e.id) for e in events if e.data["customer_id"] == customer)
            got = [(e.occurred_at, e.event_id) for e in await _timeline(_db, customer)]
            assert got == expected


@pytest.mark.postgres
@pytest.mark.kafka
class TestTimelineConsumer:
    async def test_tombstones_snapshots_and_unknown_types_are_tolerated(self, infra: Infra) -> None:
        db = await _database(infra)
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        loop = ConsumerLoop(
            name="timeline",
            service="router",
            topics=[prefix + t for t in (LEADS, CUSTOMERS, TASKS)],
            handler=record_events,
            types=TIMELINE_TYPES,
            db=db,
            inbox=Inbox(INBOX),
            outbox=Outbox(OUTBOX, topic_prefix=prefix),
            bootstrap_servers=infra.bootstrap_servers,
            group_id=f"{prefix}timeline",
        )
        producer = await start_producer(infra.bootstrap_servers)
        try:
            tier = _event(
                "leadnet.customer.tier_changed",
                {"customer_id": "C1", "old_tier": "retail", "new_tier": "gold_silver"},
                at=T0 + timedelta(minutes=5),
            )
            upserted = _event("leadnet.customer.upserted", {"customer_id": "C1", "customer": {}}, at=T0)
            scheduled = _event(
                "leadnet.task.scheduled",
                {"task_id": "T1", "customer_id": "C1", "dealer": "D001", "kind": "callback", "status": "open"},
                at=T0 + timedelta(minutes=1),
            )
            await producer.send(prefix + CUSTOMERS, None, key=b"C1")  # a tombstone
            await producer.send(prefix + CUSTOMERS, upserted.to_bytes(), key=b"C1")
            await producer.send(prefix + CUSTOMERS, tier.to_bytes(), key=b"C1")
            await producer.send(prefix + TASKS, scheduled.to_bytes(), key=b"C1")
            await producer.send(prefix + TASKS, scheduled.to_bytes(), key=b"C1")  # delivered twice
            await producer.flush()
            await loop.start()
            runner = asyncio.create_task(loop.run())

            async def two_facts() -> bool:
                return len(await _timeline(db, "C1")) >= 2

            assert await eventually(two_facts)
            await asyncio.sleep(0.5)  # anything else would have arrived with them
            loop.stop()
            await runner
            assert [e.type for e in await _timeline(db, "C1")] == [
                "leadnet.task.scheduled",
                "leadnet.customer.tier_changed",
            ]
            async with db.sessions() as session:
                failures = (await session.execute(text("SELECT count(*) FROM consumer_failures"))).scalar_one()
                dead = (await session.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
                claimed = (await session.execute(text("SELECT count(*) FROM inbox"))).scalar_one()
            # Nothing dead-lettered or parked; the snapshot type was never even claimed.
            assert (failures, dead, claimed) == (0, 0, 2)
        finally:
            await producer.stop()
            await db.dispose()
