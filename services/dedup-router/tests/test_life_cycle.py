"""A lead's life cycle in the router (life_cycle.py): closed leads stop blocking their entrant, returned ones do
not, and the final state does not depend on the order closed / returned / reopened arrive in (real PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup_router.hq_queue import reroute_queued_customers
from dedup_router.life_cycle import apply_life_cycle
from dedup_router.redistribution import redistribute_withdrawn_dealer
from leadnet_shared.life_cycle import Closed, Fact, LifeCycle, Reopened, Returned
from leadnet_shared.testing import Infra, polls

from .conftest import T0, RouterDb, new_router_db
from .test_confirmed_sales import report, setup, vin

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

PHONE = "+8613800138000"


async def _apply(rdb: RouterDb, facts: list[tuple[str, Fact]]) -> int:
    async with rdb.db.transaction() as session:
        return await apply_life_cycle(session, facts)


class TestClosedLeadsStopBlockingTheirEntrant:
    async def test_the_same_dealer_enters_a_closed_customer_again_and_gets_a_new_lead(
        self, router_db: RouterDb
    ) -> None:
        await router_db.add_dealer("D001", ["3707"])
        await router_db.add_dealer("D002", ["3701"])
        first = await router_db.submit(dealer="D002", phone=PHONE)
        assert first is not None
        assert await router_db.submit(dealer="D002", phone=PHONE, at=T0 + timedelta(minutes=1)) is None  # duplicate

        await _apply(router_db, [(first.lead_id, Closed(at=T0 + timedelta(days=9), reason="invalid_information"))])

        again = await router_db.submit(dealer="D002", phone=PHONE, at=T0 + timedelta(days=10))
        assert again is not None and again.lead_id != first.lead_id
        rows = await router_db.rows("SELECT lead_id, status, closed_reason FROM leads ORDER BY entered_at")
        assert [tuple(r) for r in rows] == [
            (first.lead_id, "closed", "invalid_information"),
            (again.lead_id, "open", None),
        ]

    async def test_a_returned_lead_is_still_the_entrants_and_blocks_a_second_record(self, router_db: RouterDb) -> None:
        await router_db.add_dealer("D001", ["3707"])
        first = await router_db.submit(dealer="D002", phone=PHONE)
        assert first is not None
        await _apply(router_db, [(first.lead_id, Returned(round=1))])
        assert await router_db.submit(dealer="D002", phone=PHONE, at=T0 + timedelta(minutes=1)) is None
        rows = await router_db.rows("SELECT status, return_round, reopen_round FROM leads")
        assert [tuple(r) for r in rows] == [("open", 1, 0)]

    async def test_withdrawal_leaves_a_closed_lead_where_it_was(self, router_db: RouterDb) -> None:
        await router_db.add_dealer("D001", ["3707"])
        await router_db.add_dealer("D003", ["3707"])
        lead = await router_db.submit(dealer=None, phone=PHONE)
        assert lead is not None and lead.assigned_dealer is not None
        await _apply(router_db, [(lead.lead_id, Closed(at=T0, reason="invalid_information"))])
        async with router_db.db.transaction() as session:
            await redistribute_withdrawn_dealer(
                session, router_db.outbox, code=lead.assigned_dealer, now=T0, dry_run=False
            )
        rows = await router_db.rows("SELECT assigned_dealer, version FROM leads")
        assert [tuple(r) for r in rows] == [(lead.assigned_dealer, 1)]
        assert await router_db.events("leadnet.lead.reassigned") == []

    @pytest.mark.parametrize("closed", [False, True])
    async def test_a_sale_is_not_attributed_to_a_closed_lead(self, router_db: RouterDb, closed: bool) -> None:
        lead = await setup(router_db, vehicles={1: ("D001", "tractor")})
        if closed:
            await _apply(router_db, [(lead.lead_id, Closed(at=T0, reason="invalid_information"))])
        sale = await report(router_db, seller="D001", vins=[vin(1)])
        entrant_rewards = [r["kind"] for r in sale["rewards"] if r["dealer"] == "D002"]
        if closed:
            assert (sale["attributed_lead_id"], entrant_rewards) == (None, [])
        else:
            assert (sale["attributed_lead_id"], entrant_rewards) == (lead.lead_id, ["purchase_reward"])


_db: RouterDb | None = None


async def _shared_db(infra: Infra) -> RouterDb:
    global _db
    if _db is None:
        _db = await new_router_db(infra)
        await _db.add_dealer("D001", ["3707"])
    await _db.truncate()
    return _db


closes = st.lists(
    st.builds(Closed, at=st.integers(0, 3).map(lambda d: T0 + timedelta(days=d)), reason=st.sampled_from(["a", "b"])),
    max_size=2,
)
rounds = st.lists(st.integers(1, 3), max_size=4)


class TestLifeCycleDoesNotDependOnOrder:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        closed=closes,
        returned=rounds,
        reopened=rounds,
        shuffle=st.randoms(use_true_random=False),
        cuts=st.sets(st.integers(1, 9), max_size=3),
    )
    async def test_any_order_batching_and_redelivery_end_in_one_state(
        self,
        infra: Infra,
        closed: list[Closed],
        returned: list[int],
        reopened: list[int],
        shuffle: Any,
        cuts: set[int],
    ) -> None:
        rdb = await _shared_db(infra)
        lead = await rdb.submit(dealer="D002", phone=PHONE)
        assert lead is not None
        facts: list[tuple[str, Fact]] = [(lead.lead_id, c) for c in closed]
        facts += [(lead.lead_id, Returned(round=n)) for n in returned]
        facts += [(lead.lead_id, Reopened(round=n)) for n in reopened]

        expected = LifeCycle()
        for _, fact in facts:
            expected = expected.after(fact)

        async def state() -> tuple[Any, ...]:
            [row] = await rdb.rows(
                "SELECT status, closed_at, closed_reason, return_round, reopen_round, assigned_dealer, version "
                "FROM leads WHERE lead_id = :id",
                id=lead.lead_id,
            )
            return tuple(row)

        for fact in facts:  # one per transaction, in the order given
            await _apply(rdb, [fact])
        in_order = await state()

        await rdb.truncate()
        await rdb.route(rdb.submitted(dealer="D002", phone=PHONE, lead_id=lead.lead_id))
        reordered = list(facts)
        shuffle.shuffle(reordered)
        reordered += facts[: len(facts) // 2]  # redeliveries
        for poll in polls(reordered, cuts):
            await _apply(rdb, list(poll))
        assert await state() == in_order

        status, closed_at, reason, returns, reopens, _, version = in_order
        assert status == ("closed" if expected.status == "closed" else "open")
        assert (closed_at, reason, returns, reopens) == (
            expected.closed_at,
            expected.closed_reason,
            expected.return_round,
            expected.reopen_round,
        )
        assert version == 1  # life-cycle facts are not reassignments


class TestQueuedCustomersAreReroutedByTheRoutingRule:
    async def test_two_new_dealers_of_a_county_share_its_queue_by_capability(self, router_db: RouterDb) -> None:
        leads = [
            await router_db.submit(dealer=None, phone=f"+86139001390{i:02d}", region="370811", name=f"客户{i}")
            for i in range(4)
        ]
        assert all(lead is not None and lead.assigned_dealer is None for lead in leads)
        await router_db.add_dealer("D004", ["3708"], capability=60)
        await router_db.add_dealer("D005", ["370811"], capability=20)
        await router_db.add_dealer("D006", ["3701"], capability=90)  # elsewhere: gets nothing
        async with router_db.db.transaction() as session:
            moved = await reroute_queued_customers(
                session, router_db.outbox, territories=["3708"], now=T0 + timedelta(days=1)
            )
        assert moved == 4
        rows = await router_db.rows(
            "SELECT assigned_dealer, version, explanation -> 'hq_queue' -> 'how' ->> 'rule' FROM leads"
        )
        # The longest prefix wins (domain.md §3 region first): the county dealer D005 takes them all.
        assert sorted(tuple(r) for r in rows) == [("D005", 2, "single_candidate")] * 4
        customers = await router_db.rows("SELECT DISTINCT assigned_dealer, authorized_dealer FROM customers")
        assert [tuple(r) for r in customers] == [("D005", "D005")]
        reassigned = await router_db.events("leadnet.lead.reassigned")
        assert [(e["data"]["from_dealer"], e["data"]["to_dealer"], e["data"]["reason"]) for e in reassigned] == [
            (None, "D005", "queue_rerouted")
        ] * 4

    async def test_dealers_sharing_a_prefix_split_the_queue_by_the_fairness_rule(self, router_db: RouterDb) -> None:
        for i in range(6):
            await router_db.submit(dealer=None, phone=f"+86139001391{i:02d}", region="370811", name=f"客户{i}")
        await router_db.add_dealer("D004", ["3708"], capability=60)
        await router_db.add_dealer("D005", ["3708"], capability=30)
        async with router_db.db.transaction() as session:
            await reroute_queued_customers(session, router_db.outbox, territories=["3708"], now=T0)
        rows = await router_db.rows("SELECT assigned_dealer, count(*) FROM leads GROUP BY 1 ORDER BY 1")
        assert [tuple(r) for r in rows] == [("D004", 4), ("D005", 2)]  # 2:1 by capability, as routing shares
        pools = await router_db.rows("SELECT dealer, assigned FROM pool_counts ORDER BY dealer")
        assert [tuple(r) for r in pools] == [("D004", 4), ("D005", 2)]  # counted, so later routing stays fair
