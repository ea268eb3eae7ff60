"""A lead's reassignment that overtakes its verdict (review M4) keeps its facts in the ledger: the authorized
dealer decides whether a sale is guaranteed, so an older `lead.accepted` must not bring the old one back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from leadnet_shared.clock import FrozenClock
from leadnet_shared.events import Envelope
from leadnet_shared.testing import Infra, envelope, fresh_database, reassigned_event
from tests.ledger_harness import T0, LedgerHarness, lead_accepted

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


@pytest.fixture(params=["one_by_one", "batch"])
async def ledger(request: pytest.FixtureRequest, infra: Infra, clock: FrozenClock) -> AsyncIterator[LedgerHarness]:
    harness = LedgerHarness.open(
        await fresh_database(infra.database_server_url, "rewards_ledger"), clock=clock, batch=request.param == "batch"
    )
    try:
        yield harness
    finally:
        await harness.close()


def _accepted() -> Envelope:
    accepted = lead_accepted(lead_id="L1", customer_id="C1", entered_by="D002", authorized="D001")
    return accepted.model_copy(update={"data": {**accepted.data, "lead_version": 1}})


def _reassigned() -> Envelope:
    facts = {"cross_region": True, "reward_eligible": True, "product_line": "tractor", "lead_version": 2}
    return envelope(reassigned_event(entered_by="D002", from_dealer="D001", to_dealer="D004", at=T0, **facts), at=T0)


async def _stored(ledger: LedgerHarness) -> list[tuple[str, str, bool]]:
    async with ledger.db.sessions() as session:
        rows = await session.execute(text("SELECT authorized_dealer, customer_name, customer_existed FROM leads"))
        return [tuple(row) for row in rows]


class TestOlderFactsNeverOverwriteNewerOnes:
    async def test_a_reassignment_before_its_verdict_keeps_its_dealer(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([_reassigned()])
        await ledger.deliver([_accepted()])
        # The verdict's own facts (the masked customer) are still taken in.
        assert await _stored(ledger) == [("D004", "张*", False)]

    async def test_in_one_poll_the_newest_version_wins_whatever_the_order(self, ledger: LedgerHarness) -> None:
        await ledger.deliver([_reassigned(), _accepted()])
        assert await _stored(ledger) == [("D004", "张*", False)]
