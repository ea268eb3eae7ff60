"""The reward rules of domain.md §3 through the real handlers on a real database: 200 fen info fee, 10000 fen
purchase reward, 100000-300000 fen profit guarantee per vehicle; once per fact, whatever the order of arrival."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from leadnet_shared.clock import FrozenClock
from leadnet_shared.events import Envelope
from leadnet_shared.testing import Infra, fresh_database
from tests.ledger_harness import (
    LedgerHarness,
    opened_ledger,
    redelivered,
    republished,
    sale_cancelled,
)

from .story import accepted, sold, verified

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


@pytest.fixture(params=["one_by_one", "batch"])
async def ledger(request: pytest.FixtureRequest, infra: Infra, clock: FrozenClock) -> AsyncIterator[LedgerHarness]:
    """Every rule through both consumer paths: one event at a time, and the batch handler production uses."""
    url = await fresh_database(infra.database_server_url, "rewards_ledger")
    async with opened_ledger(url, clock=clock, batch=request.param == "batch") as harness:
        yield harness


def sold_by_authorized(sale_id: str = "S1", vin: str = "LRDS6PEB5KR000001") -> Envelope:
    return sold(sale_id, vehicles=[(vin, "tractor")])


def sold_by_entrant(sale_id: str = "S2", vins: tuple[str, ...] = ("VIN-A",), line: str = "tractor") -> Envelope:
    return sold(sale_id, seller="D002", supplied_by="D001", vehicles=[(v, line) for v in vins])


class TestInformationFee:
    async def test_200_fen_once_when_verified_and_not_before(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([accepted()])
        assert await ledger.balances() == {}
        first = verified()
        await ledger.deliver([first, redelivered(first), republished(first), verified()])
        assert await ledger.balances() == {"D002": 200}
        [entry] = await ledger.entries()
        assert (entry["kind"], entry["idempotency_key"], entry["lead_id"]) == ("info_fee", "info_fee:L1", "L1")
        assert await ledger.dead_letters() == 0

    @pytest.mark.parametrize(
        "over",
        [
            {"eligible": False, "cross_region": False},  # in-region
            {"tier": "gold_silver", "eligible": False},  # big customer
            {"entered_by": None, "eligible": False},  # collected by HQ
        ],
    )
    async def test_nothing_for_in_region_big_or_hq_records(
        self, ledger: LedgerHarness, over: dict[str, object]
    ) -> None:
        await ledger.deliver([accepted(**over), verified(**over), sold_by_authorized()])
        assert await ledger.balances() == {}

    async def test_nothing_for_a_record_of_an_existing_customer(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([accepted(customer_existed=True), verified(), sold_by_authorized()])
        assert await ledger.balances() == {}


class TestPurchaseReward:
    async def test_10000_fen_when_the_customer_buys_from_another_dealer(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([accepted(), verified(), sold_by_authorized()])
        assert await ledger.balances() == {"D002": 200 + 10000}
        keys = [e["idempotency_key"] for e in await ledger.entries()]
        assert keys == ["info_fee:L1", "purchase_reward:L1"]

    async def test_once_per_record_even_if_the_customer_buys_twice(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([accepted(), verified(), sold_by_authorized("S1", "V1"), sold_by_authorized("S3", "V3")])
        assert await ledger.balances() == {"D002": 10200}

    async def test_held_until_the_record_is_verified(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([sold_by_authorized()])
        assert await ledger.balances() == {}
        await ledger.deliver([accepted()])
        assert await ledger.balances() == {}  # accepted but not verified: still held
        await ledger.deliver([verified()])
        assert await ledger.balances() == {"D002": 10200}

    async def test_unverified_record_earns_nothing_even_after_a_sale(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([accepted(), sold_by_authorized()])
        assert await ledger.balances() == {}


class TestProfitGuarantee:
    async def test_default_by_product_line_per_vehicle_instead_of_purchase_reward(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([accepted(), verified(), sold_by_entrant(vins=("V1", "V2"), line="tractor")])
        assert await ledger.balances() == {"D002": 200 + 2 * 200000}
        keys = sorted(e["idempotency_key"] for e in await ledger.entries())
        assert keys == ["info_fee:L1", "profit_guarantee:S2:V1", "profit_guarantee:S2:V2"]

    async def test_line_not_in_the_table_gets_the_default(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([accepted(), verified(), sold_by_entrant(line="bus")])
        assert await ledger.balances() == {"D002": 200 + 100000}

    async def test_nothing_when_the_entrant_sells_from_its_own_stock(self, ledger: LedgerHarness) -> None:
        own = sold("S9", seller="D002", vehicles=[("V9", "tractor")])
        other_supplier = sold("S8", seller="D002", supplied_by="D077", vehicles=[("V8", "tractor")], authorized="D001")
        await ledger.deliver([accepted(), verified(), own, other_supplier])
        assert await ledger.balances() == {"D002": 200}


class TestCancellation:
    async def test_cancel_after_payment_reverses_the_sale_rewards_not_the_info_fee(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([accepted(), verified(), sold_by_entrant(vins=("V1",))])
        await ledger.deliver([sale_cancelled(sale_id="S2", customer_id="C1")])
        assert await ledger.balances() == {"D002": 200}
        entries = await ledger.entries()
        reversal = entries[-1]
        assert reversal["kind"] == "reversal"
        assert reversal["amount_fen"] == -200000
        assert reversal["rule"] == "reversal.sale_cancelled"
        assert reversal["idempotency_key"] == f"reversal:{reversal['reverses']}"
        assert next(e for e in entries if e["entry_id"] == reversal["reverses"])["kind"] == "profit_guarantee"

    async def test_cancel_before_the_sale_arrives_prevents_payment(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([sale_cancelled(sale_id="S1", customer_id="C1"), accepted(), verified()])
        await ledger.deliver([sold_by_authorized("S1")])
        assert await ledger.balances() == {"D002": 200}
        assert [e["kind"] for e in await ledger.entries()] == ["info_fee"]  # nothing paid, nothing reversed

    async def test_cancel_while_held_prevents_payment(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([sold_by_authorized("S1"), sale_cancelled(sale_id="S1", customer_id="C1")])
        await ledger.deliver([accepted(), verified()])
        assert await ledger.balances() == {"D002": 200}

    async def test_cancelled_first_sale_moves_the_purchase_reward_to_the_live_one(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([accepted(), verified(), sold_by_authorized("S1", "V1"), sold_by_authorized("S3", "V3")])
        await ledger.deliver([sale_cancelled(sale_id="S1", customer_id="C1")])
        assert await ledger.balances() == {"D002": 10200}
        entries = await ledger.entries()
        assert [(e["kind"], e["sale_id"], e["amount_fen"]) for e in entries[1:]] == [
            ("purchase_reward", "S1", 10000),
            ("reversal", "S1", -10000),
            ("purchase_reward", "S3", 10000),
        ]
        assert entries[-1]["idempotency_key"] == "purchase_reward:L1#2"
        await ledger.deliver([sale_cancelled(sale_id="S3", customer_id="C1")])
        assert await ledger.balances() == {"D002": 200}

    async def test_cancellation_redelivered_reverses_once(self, ledger: LedgerHarness) -> None:
        cancel = sale_cancelled(sale_id="S1", customer_id="C1")
        await ledger.deliver([accepted(), verified(), sold_by_authorized("S1")])
        await ledger.deliver([cancel, redelivered(cancel), republished(cancel)])
        await ledger.deliver([republished(sold_by_authorized("S1"))])  # a replayed attribution pays nothing again
        assert await ledger.balances() == {"D002": 200}
        assert [e["kind"] for e in await ledger.entries()] == ["info_fee", "purchase_reward", "reversal"]
