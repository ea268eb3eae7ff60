"""What intake knows of each dealer, learnt from `leadnet.public.dealers.v1` (the router's registry owns dealers),
in one table (`models.DEALERS`): its status (only an active dealer's token writes, `leadnet_shared.dealer_directory`),
its sales level and party type (the network kinds expected of it, domain.md §1: dealers 14 / 13 / 12 by ≥ 1000,
300–999, < 300 vehicles a year; service providers 5 / 6; its collection target, §2), its region (the province its
territories lie in, for the collection roll-up) and when it was first seen.

A value outside `SALES_LEVELS` or `PARTY_TYPES` (an event from before the router validated it) is stored as
unknown, never guessed.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.repository import dealers
from leadnet_shared.app import ConsumerSpec, Runtime
from leadnet_shared.consumer import BatchHandler
from leadnet_shared.events import DEALERS, PARTY_TYPES, SALES_LEVELS, DealerUpserted, DealerWithdrawn, Envelope

log = logging.getLogger(__name__)

UPSERTED, WITHDRAWN = "leadnet.dealer.upserted", "leadnet.dealer.withdrawn"
# The consumer group the kit's directory consumer used before the two dealer tables were folded into one: its
# offsets carry over, and the migration copied what the other group (network-dealers) had learnt.
CONSUMER_NAME = "dealers"


def sales_level_of(value: str | None) -> str | None:
    """The validated level, or None for a missing or unknown one."""
    return value if value in SALES_LEVELS else None


def party_type_of(value: str | None) -> str | None:
    """The validated party type, or None (a dealer) for a missing or unknown one."""
    return value if value in PARTY_TYPES else None


def region_of(territories: list[str]) -> str | None:
    """The province (2-digit adcode prefix) most of the dealer's territories lie in; the lowest on a tie."""
    provinces = Counter(t[:2] for t in territories if len(t) >= 2 and t[:2].isdigit())
    if not provinces:
        return None
    top = max(provinces.values())
    return min(p for p, n in provinces.items() if n == top)


@dataclass
class _Row:
    code: str
    sales_level: str | None
    party_type: str | None
    region: str | None
    status: str
    first_seen_at: datetime
    updated_at: datetime


async def on_dealer_events(session: AsyncSession, envelopes: list[Envelope]) -> None:
    """Keep each dealer's newest state; an older event (by `updated_at`) never overwrites a newer one, and a
    withdrawal keeps the level, party type and region the dealer had."""
    rows: dict[str, _Row] = {}
    for envelope in envelopes:
        if envelope.type == UPSERTED:
            dealer = DealerUpserted.of(envelope)
            level = sales_level_of(dealer.sales_level)
            if dealer.sales_level is not None and level is None:
                log.warning("dealer %s has an unknown sales_level; treated as unknown", dealer.code)
            row = _Row(
                dealer.code,
                level,
                party_type_of(dealer.party_type),
                region_of(dealer.territories),
                dealer.status,
                dealer.updated_at,
                dealer.updated_at,
            )
        elif envelope.type == WITHDRAWN:
            gone = DealerWithdrawn.of(envelope)
            known = rows.get(gone.code)
            row = _Row(
                gone.code,
                known.sales_level if known else None,
                known.party_type if known else None,
                known.region if known else None,
                "withdrawn",
                gone.withdrawn_at,
                gone.withdrawn_at,
            )
        else:
            continue
        known = rows.get(row.code)
        if known is not None:
            row.first_seen_at = min(known.first_seen_at, row.first_seen_at)
            if known.updated_at > row.updated_at:
                known.first_seen_at = row.first_seen_at
                continue
        rows[row.code] = row
    if not rows:
        return
    await dealers.save_newest(session, [asdict(r) for r in sorted(rows.values(), key=lambda r: r.code)])


def dealer_levels_consumer() -> ConsumerSpec:
    """The one consumer of the dealers topic in intake (status for the write check, and the rest above)."""

    def handler(_runtime: Runtime) -> BatchHandler:
        return on_dealer_events

    return ConsumerSpec(name=CONSUMER_NAME, topics=[DEALERS], handler=handler, types=frozenset({UPSERTED, WITHDRAWN}))
