"""The consumer's batch path (production; test_settlement.py runs every rule through it too): each record settled
once per poll, a bounded number of statements per poll, locks taken in one order so replicas do not deadlock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import event

from leadnet_shared.clock import FrozenClock
from leadnet_shared.testing import Infra, fresh_database
from tests.ledger_harness import (
    LedgerHarness,
    lead_accepted,
    lead_verified,
    opened_ledger,
    sale_attributed,
    sale_cancelled,
)

from .story import LEAD, sold

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


@pytest.fixture
async def batch_ledger(infra: Infra, clock: FrozenClock) -> AsyncIterator[LedgerHarness]:
    url = await fresh_database(infra.database_server_url, "rewards_ledger")
    async with opened_ledger(url, clock=clock, batch=True) as harness:
        yield harness


class TestEachRecordIsSettledOncePerPoll:
    async def test_a_sale_cancelled_in_the_same_poll_is_never_posted(self, batch_ledger: LedgerHarness) -> None:
        await batch_ledger.deliver(
            [lead_accepted(**LEAD), lead_verified(**LEAD), sold(), sale_cancelled(sale_id="S1", customer_id="C1")]
        )
        assert await batch_ledger.balances() == {"D002": 200}
        assert [(e["kind"], e["amount_fen"]) for e in await batch_ledger.entries()] == [("info_fee", 200)]

    async def test_one_by_one_the_same_poll_posts_and_reverses(self, ledger: LedgerHarness) -> None:
        await ledger.deliver(
            [lead_accepted(**LEAD), lead_verified(**LEAD), sold(), sale_cancelled(sale_id="S1", customer_id="C1")]
        )
        assert await ledger.balances() == {"D002": 200}
        assert [(e["kind"], e["amount_fen"]) for e in await ledger.entries()] == [
            ("info_fee", 200),
            ("purchase_reward", 10000),
            ("reversal", -10000),
        ]

    async def test_latest_facts_first_verification_latest_customer(self, batch_ledger: LedgerHarness) -> None:
        # An in-region record made cross-region by a reassignment in the same poll earns the 200 fen info fee.
        in_region: dict[str, Any] = {**LEAD, "cross_region": False, "eligible": False}
        await batch_ledger.deliver(
            [
                lead_accepted(**in_region, customer_existed=True),
                lead_accepted(**LEAD),
                lead_verified(**in_region),
                lead_verified(**LEAD),
            ]
        )
        assert await batch_ledger.balances() == {"D002": 200}


@pytest.fixture
def statements(batch_ledger: LedgerHarness) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(batch_ledger.db.engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(batch_ledger.db.engine.sync_engine, "before_cursor_execute", record)


def poll(n: int, first: int) -> list[Any]:
    events = []
    for i in range(first, first + n):
        lead = {"lead_id": f"L{i}", "customer_id": f"C{i}", "entered_by": f"D00{i % 4}", "authorized": "D900"}
        events += [
            lead_verified(**lead),
            sale_attributed(
                sale_id=f"S{i}",
                customer_id=f"C{i}",
                lead_id=f"L{i}",
                seller="D900",
                supplied_by=None,
                vehicles=[(f"V{i}", None)],
                entered_by=f"D00{i % 4}",
            ),
        ]
    return events


class TestStatementsPerPollDoNotGrowWithThePoll:
    async def test_250_records_take_as_many_statements_as_5(
        self, batch_ledger: LedgerHarness, statements: list[str]
    ) -> None:
        await batch_ledger.deliver(poll(5, 0))
        small = len(statements)
        statements.clear()
        await batch_ledger.deliver(poll(250, 100))
        assert len(statements) == small <= 16
        balances = await batch_ledger.balances()
        assert sum(balances.values()) == 255 * (200 + 10000)


class TestOverlappingPollsInOppositeOrderDoNotDeadlock:
    async def test_two_replicas(self, infra: Infra, clock: FrozenClock) -> None:
        url = await fresh_database(infra.database_server_url, "rewards_ledger")
        one, two = (LedgerHarness.open(url, clock=clock, batch=True) for _ in range(2))
        try:
            for round_ in range(15):
                events = poll(6, round_ * 10)
                # The same records and sales, delivered to two consumers in opposite orders (a replay, a rebalance).
                await asyncio.gather(
                    one.deliver(events),
                    two.deliver([e.model_copy(update={"id": e.id + "x"}) for e in reversed(events)]),
                )
            # A deadlock would have failed a poll: a fallback to the one-by-one path, or a dead letter there.
            assert one.fallbacks == two.fallbacks == 0
            assert await one.dead_letters() == 0
            assert sum((await one.balances()).values()) == 15 * 6 * (200 + 10000)
        finally:
            await one.close()
            await two.close()
