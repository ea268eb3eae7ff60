"""The dealer directory: each dealer's newest status whatever order its facts arrive in, and only an active dealer's
token writes (unknown and withdrawn dealers get 403 `dealer_not_active`; HQ writes as HQ)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, delete, select

from leadnet_shared.auth import Principal
from leadnet_shared.db import Database
from leadnet_shared.dealer_directory import (
    ActiveDealers,
    DealerFact,
    dealer_directory_table,
    dealer_fact,
    record_dealer_facts,
    require_active_dealer,
)
from leadnet_shared.events import DealerUpserted, DealerWithdrawn, make_envelope
from leadnet_shared.problems import DealerNotActive
from leadnet_shared.testing import Infra, tables_db

pytestmark = [pytest.mark.postgres]

metadata = MetaData()
DEALERS = dealer_directory_table(metadata)
T0 = datetime(2026, 11, 2, tzinfo=UTC)
D1 = Principal(sub="d1", role="dealer", dealer="D001")
D9 = Principal(sub="d9", role="dealer", dealer="D009")
HQ = Principal(sub="hq", role="hq_admin", dealer=None)


async def _database(infra: Infra) -> Database:
    return await tables_db(infra, metadata, pool_size=2)


def test_a_fact_is_read_from_either_event() -> None:
    upserted = make_envelope(
        data=DealerUpserted(code="D001", name="n", territories=["37"], product_lines=["tractor"], capability=1,
                            updated_at=T0),
        event_type="leadnet.dealer.upserted", source="/router", time=T0, subject="D001",
    )  # fmt: skip
    withdrawn = make_envelope(
        data=DealerWithdrawn(code="D001", withdrawn_at=T0 + timedelta(days=1)),
        event_type="leadnet.dealer.withdrawn", source="/router", time=T0, subject="D001",
    )  # fmt: skip
    assert dealer_fact(upserted) == DealerFact(code="D001", status="active", at=T0)
    assert dealer_fact(withdrawn) == DealerFact(code="D001", status="withdrawn", at=T0 + timedelta(days=1))


# Registered, withdrawn, registered again... each fact an hour after the one before.
HISTORIES = st.lists(st.sampled_from(["active", "withdrawn"]), min_size=1, max_size=5).flatmap(
    lambda statuses: st.tuples(st.just(statuses), st.permutations(range(len(statuses))), st.integers(1, 3))
)


class TestNewestWins:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(history=HISTORIES)
    async def test_any_order_and_any_batching_give_the_newest_status(
        self, infra: Infra, history: tuple[list[str], list[int], int]
    ) -> None:
        statuses, order, batch = history
        facts = [DealerFact(code="D001", status=s, at=T0 + timedelta(hours=i)) for i, s in enumerate(statuses)]
        shuffled = [facts[i] for i in order]
        db = await self._db(infra)
        async with db.transaction() as session:
            await session.execute(delete(DEALERS))
        for start in range(0, len(shuffled), batch):
            async with db.transaction() as session:
                await record_dealer_facts(session, DEALERS, shuffled[start : start + batch])
        async with db.sessions() as session:
            stored = (await session.execute(select(DEALERS.c.status, DEALERS.c.updated_at))).one()
        assert tuple(stored) == (statuses[-1], facts[-1].at)

    _database: Database | None = None

    async def _db(self, infra: Infra) -> Database:
        if TestNewestWins._database is None:
            TestNewestWins._database = await _database(infra)
        return TestNewestWins._database


class TestOnlyActiveDealersWrite:
    async def test_unknown_and_withdrawn_dealers_are_refused_hq_is_not(self, infra: Infra) -> None:
        db = await _database(infra)
        try:
            async with db.transaction() as session:
                await record_dealer_facts(session, DEALERS, [DealerFact(code="D001", status="active", at=T0)])
                await require_active_dealer(session, DEALERS, D1)
                await require_active_dealer(session, DEALERS, HQ)
                with pytest.raises(DealerNotActive) as unknown:
                    await require_active_dealer(session, DEALERS, D9)
            problem = unknown.value.to_problem()
            assert (problem["status"], problem["code"]) == (403, "dealer_not_active")
            assert problem["dealer_status"] == "unknown"

            cached = ActiveDealers(DEALERS, ttl_seconds=0.0)  # asks the database every time
            await cached.require(db, D1)
            async with db.transaction() as session:
                fact = DealerFact(code="D001", status="withdrawn", at=T0 + timedelta(days=1))
                await record_dealer_facts(session, DEALERS, [fact])
            with pytest.raises(DealerNotActive) as withdrawn:
                await cached.require(db, D1)
            assert withdrawn.value.to_problem()["dealer_status"] == "withdrawn"
            await cached.require(db, HQ)

            # Within its lifetime an "active" answer is trusted without the database; other answers never are.
            remembering = ActiveDealers(DEALERS, ttl_seconds=3600)
            with pytest.raises(DealerNotActive):
                await remembering.require(db, D1)
            async with db.transaction() as session:
                fact = DealerFact(code="D001", status="active", at=T0 + timedelta(days=2))
                await record_dealer_facts(session, DEALERS, [fact])
            await remembering.require(db, D1)  # registered again: writes at once
        finally:
            await db.dispose()
