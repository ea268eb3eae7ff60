"""The dealers' sales levels, learnt from `leadnet.public.dealers.v1` (the router's registry owns dealers).

The sales level sizes what is expected of a dealer's networks (domain.md §1: 14 / 13 / 12 kinds by ≥ 1000,
300–999, < 300 vehicles a year). A value outside `SALES_LEVELS` (an event from before the router validated it) is
stored as unknown, never guessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.network_models import NetworkDealer
from leadnet_shared.app import ConsumerSpec, Runtime
from leadnet_shared.consumer import BatchHandler
from leadnet_shared.events import DEALERS, SALES_LEVELS, DealerUpserted, DealerWithdrawn, Envelope

log = logging.getLogger(__name__)

UPSERTED, WITHDRAWN = "leadnet.dealer.upserted", "leadnet.dealer.withdrawn"


def sales_level_of(value: str | None) -> str | None:
    """The validated level, or None for a missing or unknown one."""
    return value if value in SALES_LEVELS else None


@dataclass
class _Row:
    code: str
    sales_level: str | None
    status: str
    first_seen_at: datetime
    updated_at: datetime


async def on_dealer_events(session: AsyncSession, envelopes: list[Envelope]) -> None:
    """Keep each dealer's newest level and status; an older event (by `updated_at`) never overwrites a newer one,
    and a withdrawal keeps the level the dealer had."""
    rows: dict[str, _Row] = {}
    for envelope in envelopes:
        if envelope.type == UPSERTED:
            dealer = DealerUpserted.of(envelope)
            level = sales_level_of(dealer.sales_level)
            if dealer.sales_level is not None and level is None:
                log.warning("dealer %s has an unknown sales_level; treated as unknown", dealer.code)
            row = _Row(dealer.code, level, dealer.status, dealer.updated_at, dealer.updated_at)
        elif envelope.type == WITHDRAWN:
            gone = DealerWithdrawn.of(envelope)
            known = rows.get(gone.code)
            level = known.sales_level if known else None
            row = _Row(gone.code, level, "withdrawn", gone.withdrawn_at, gone.withdrawn_at)
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
    insert = pg_insert(NetworkDealer).values(
        [
            {
                "code": r.code,
                "sales_level": r.sales_level,
                "status": r.status,
                "first_seen_at": r.first_seen_at,
                "updated_at": r.updated_at,
            }
            for r in sorted(rows.values(), key=lambda r: r.code)
        ]
    )
    excluded = insert.excluded
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[NetworkDealer.code],
            set_={
                "sales_level": case(
                    (excluded.status == "withdrawn", NetworkDealer.sales_level), else_=excluded.sales_level
                ),
                "status": excluded.status,
                "first_seen_at": func.least(NetworkDealer.first_seen_at, excluded.first_seen_at),
                "updated_at": excluded.updated_at,
            },
            where=NetworkDealer.updated_at <= excluded.updated_at,
        )
    )


def dealer_levels_consumer() -> ConsumerSpec:
    def handler(_runtime: Runtime) -> BatchHandler:
        return on_dealer_events

    return ConsumerSpec(
        name="network-dealers", topics=[DEALERS], handler=handler, types=frozenset({UPSERTED, WITHDRAWN})
    )


async def sales_levels(session: AsyncSession, codes: list[str]) -> dict[str, str | None]:
    found = await session.execute(
        select(NetworkDealer.code, NetworkDealer.sales_level).where(NetworkDealer.code.in_(codes))
    )
    return {code: level for code, level in found.all()}
