"""A fresh ledger database (cloned from the template the real migrations built) and the harness on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from leadnet_shared.clock import FrozenClock
from leadnet_shared.testing import Infra, fresh_database
from tests.ledger_harness import T0, LedgerHarness, opened_ledger


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def ledger(infra: Infra, clock: FrozenClock) -> AsyncIterator[LedgerHarness]:
    url = await fresh_database(infra.database_server_url, "rewards_ledger")
    async with opened_ledger(url, clock=clock, batch=False) as harness:
        yield harness
