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

from leadnet_shared.db import Database
from leadnet_shared.events import Envelope, FleetLine
from leadnet_shared.testing import Arrival, Infra, arrivals, lead_history
from tests.scheduler_harness import lead_handler_at

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

T0 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


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
        runtime, handle = await lead_handler_at(infra, T0)
        db = runtime.db
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
        runtime, handle = await lead_handler_at(infra, T0)
        db = runtime.db
        lead_id, customer_id = str(uuid.uuid4()), str(uuid.uuid4())
        accepted, moved = _history(lead_id, customer_id, ["D002"])
        for envelope in (moved, accepted):
            async with db.transaction() as session:
                await handle(session, [envelope])
        assert await _rows(db, "SELECT assigned_dealer, fleet_vehicles FROM leads WHERE lead_id = :id", id=lead_id) == [
            ("D002", 2)
        ]
        assert await _rows(db, "SELECT dealer, status FROM tasks WHERE lead_id = :id", id=lead_id) == [("D002", "open")]
