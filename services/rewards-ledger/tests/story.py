"""The record most ledger tests tell, as the router and the scheduler announce it: D002 (Jinan) entered a retail
customer of Weifang (C1, lead L1), the region of D001: cross-region, assigned to D001. Support, not a test."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadnet_shared.events import Envelope
from tests.ledger_harness import lead_accepted, lead_verified, sale_attributed

LEAD: dict[str, Any] = {"lead_id": "L1", "customer_id": "C1", "entered_by": "D002", "authorized": "D001"}
TRACTOR_VIN = "LRDS6PEB5KR000001"


def accepted(**over: Any) -> Envelope:
    return lead_accepted(**{**LEAD, **over})


def verified(**over: Any) -> Envelope:
    return lead_verified(**{**LEAD, **over})


def sold(
    sale_id: str = "S1",
    *,
    vehicles: Sequence[tuple[str, str | None]] = ((TRACTOR_VIN, "tractor"),),
    seller: str = "D001",
    supplied_by: str | None = None,
    entered_by: str | None = "D002",
    **more: Any,
) -> Envelope:
    """A confirmed sale to C1 on L1; by default the authorized dealer sold a tractor from its own stock."""
    return sale_attributed(
        sale_id=sale_id,
        customer_id="C1",
        lead_id="L1",
        seller=seller,
        supplied_by=supplied_by,
        vehicles=list(vehicles),
        entered_by=entered_by,
        **more,
    )
