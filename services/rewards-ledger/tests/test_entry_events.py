"""`leadnet.ledger.entry_posted` leaves keyed by the customer it pays for (contract.md "Events"), so a customer's
postings and reversals, whichever dealers they credit, keep their order on one partition."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from leadnet_shared.events import LEDGER, EntryPosted, Envelope
from tests.ledger_harness import LedgerHarness, lead_accepted, lead_verified, sale_cancelled

from .story import sold

pytestmark = [pytest.mark.postgres]

LEAD: dict[str, Any] = {"lead_id": "L1", "customer_id": "C1", "entered_by": "D002", "authorized": "D001"}


async def _entry_rows(ledger: LedgerHarness) -> list[tuple[str, str, Envelope]]:
    async with ledger.db.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT topic, aggregate_id, payload FROM outbox WHERE event_type = 'leadnet.ledger.entry_posted' "
                    "ORDER BY seq"
                )
            )
        ).all()
    return [(topic, key, Envelope.from_bytes(payload.encode())) for topic, key, payload in rows]


class TestEntryPostedKey:
    async def test_every_entry_of_a_customer_is_keyed_by_that_customer_not_by_its_dealer(
        self, ledger: LedgerHarness
    ) -> None:
        await ledger.deliver([lead_accepted(**LEAD), lead_verified(**LEAD)])
        await ledger.deliver([sold(seller="D002", supplied_by="D001", vehicles=[("VIN-A", "tractor")])])
        await ledger.deliver([sale_cancelled(sale_id="S1", customer_id="C1")])
        rows = await _entry_rows(ledger)
        entries = [EntryPosted.of(envelope) for _, _, envelope in rows]
        assert {e.kind for e in entries} >= {"info_fee", "reversal"}, "a posting and a reversal at least"
        for (topic, key, envelope), entry in zip(rows, entries, strict=True):
            assert topic == "t." + LEDGER
            assert key == "C1" == entry.customer_id
            assert envelope.subject == entry.dealer, "the subject stays the account the entry moves"
