"""Property: a lead's verdict and reassignments leave the same follow-up in the scheduler whatever order and
batching they arrive in (review M4: `lead.reassigned` can overtake `lead.accepted` between relay replicas).

The consumer's handler runs on real PostgreSQL: the lead ends with the newest reassignment's dealer (the router's
`lead_version` decides), its open work is that dealer's, and the verdict's fleet is kept whenever it comes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from followup_scheduler.handlers import lead_handler
from followup_scheduler.models import INBOX, KIT_STATE, OUTBOX
from followup_scheduler.settings import SchedulerSettings
from leadnet_shared.app import Runtime
from leadnet_shared.clock import FrozenClock
from leadnet_shared.consumer import BatchHandler, Inbox
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import Envelope, FleetLine
from leadnet_shared.outbox import Outbox
from leadnet_shared.settings import to_asyncpg_url
from leadnet_shared.testing import Arrival, Infra, arrivals, fresh_database, lead_history

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

T0 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)

_scheduler: tuple[Database, BatchHandler] | None = None


async def _handler(infra: Infra) -> tuple[Database, BatchHandler]:
    """One migrated database and handler for every example; each example follows a new lead."""
    global _scheduler
    if _scheduler is None:
        url = await fresh_database(infra.database_server_url, "followup_scheduler")
        db = Database(make_engine(to_asyncpg_url(url), pool_size=2))
        runtime = Runtime(
            settings=SchedulerSettings(env="test", topic_prefix=""),
            db=db,
            outbox=Outbox(OUTBOX),
            inbox=Inbox(INBOX),
            tables=(OUTBOX, INBOX, KIT_STATE),
            clock=FrozenClock(T0),
        )
        _scheduler = (db, lead_handler(runtime))
    return _scheduler


def _history(lead_id: str, customer_id: str, moves: list[str | None]) -> list[Envelope]:
    """What the router publishes for one lead of a customer with two vehicles in use."""
    fleet = [FleetLine(brand="欧曼", model="EST 6", quantity=2)]
    return lead_history(lead_id, customer_id, moves, at=T0, step=timedelta(hours=1), fleet=fleet)


async def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.sessions() as session:
        return list((await session.execute(text(sql), params)).all())


class TestOlderFactsNeverOverwriteNewerOnes:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        moves=st.lists(st.sampled_from(["D002", "D003", None]), min_size=1, max_size=3),
        arrival=arrivals(),
    )
    async def test_any_order_and_batching_ends_with_the_newest_dealer(
        self, infra: Infra, moves: list[str | None], arrival: Arrival
    ) -> None:
        db, handle = await _handler(infra)
        lead_id, customer_id = str(uuid.uuid4()), str(uuid.uuid4())
        await arrival.deliver(db, handle, _history(lead_id, customer_id, moves))

        newest = moves[-1]
        assert await _rows(
            db, "SELECT assigned_dealer, status, fleet_vehicles FROM leads WHERE lead_id = :id", id=lead_id
        ) == [(newest, "open", 2)]
        open_work = {
            dealer
            for (dealer,) in await _rows(
                db, "SELECT dealer FROM tasks WHERE lead_id = :id AND status IN ('open', 'overdue')", id=lead_id
            )
        }
        # The newest dealer has the lead's work; a lead in the HQ queue has none of a dealer's (HQ plans by hand).
        assert open_work == {newest} if newest is not None else open_work <= {None}

    async def test_a_reassignment_before_its_verdict_is_followed_with_the_new_dealer(self, infra: Infra) -> None:
        db, handle = await _handler(infra)
        lead_id, customer_id = str(uuid.uuid4()), str(uuid.uuid4())
        accepted, moved = _history(lead_id, customer_id, ["D002"])
        for envelope in (moved, accepted):
            async with db.transaction() as session:
                await handle(session, [envelope])
        assert await _rows(db, "SELECT assigned_dealer, fleet_vehicles FROM leads WHERE lead_id = :id", id=lead_id) == [
            ("D002", 2)
        ]
        assert await _rows(db, "SELECT dealer, status FROM tasks WHERE lead_id = :id", id=lead_id) == [("D002", "open")]
