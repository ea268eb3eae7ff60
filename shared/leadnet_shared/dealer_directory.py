"""The dealer directory a service keeps from `leadnet.public.dealers.v1`, and the rule it serves: only an active
dealer's token writes.

The router registers and withdraws dealers and publishes each dealer's state on that compacted topic, so a consumer
that starts reading it from the beginning learns every dealer's newest state. Tokens live up to a day and cannot be
taken back (auth.py), so this directory is what ends a withdrawn dealer's access (review M2, issue 16 §4): a write by
a dealer token (submit a record, register a network, report or confirm a sale, plan or complete a task) is refused
with 403 `dealer_not_active` unless the dealer is registered and active. A token naming a dealer nobody registered
is refused the same way, instead of its records being routed as if HQ had entered them.

Reads stay allowed: withdrawal moves every customer, lead and task away from the dealer, so what it can still read
are masked copies of the records it entered; intake also masks a lead for a dealer that is no longer active while
the reassignment is on its way (docs/operations.md, "Dealer tokens").
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.app import ConsumerSpec, Runtime
from leadnet_shared.auth import Principal
from leadnet_shared.consumer import BatchHandler
from leadnet_shared.db import Database
from leadnet_shared.events import DEALERS, DealerUpserted, DealerWithdrawn, Envelope
from leadnet_shared.problems import DealerNotActive

DEALER_UPSERTED, DEALER_WITHDRAWN = "leadnet.dealer.upserted", "leadnet.dealer.withdrawn"
DEALER_TYPES = frozenset({DEALER_UPSERTED, DEALER_WITHDRAWN})
ACTIVE = "active"


def dealer_directory_table(metadata: MetaData, *extra: Column[Any]) -> Table:
    """A service's copy of the dealers' status (the columns the scheduler's `dealers` table has always had), plus
    the `extra` columns a service keeps about the same dealers (one table per service, not one per purpose)."""
    return Table(
        "dealers",
        metadata,
        Column("code", String(32), primary_key=True),
        Column("status", String(20), nullable=False),  # active | withdrawn
        Column("updated_at", DateTime(timezone=True), nullable=False),
        *extra,
    )


@dataclass(frozen=True, slots=True)
class DealerFact:
    """One dealer's status as of `at`, from `leadnet.dealer.upserted` or `leadnet.dealer.withdrawn`."""

    code: str
    status: str
    at: datetime


def dealer_fact(envelope: Envelope) -> DealerFact:
    if envelope.type == DEALER_WITHDRAWN:
        withdrawn = DealerWithdrawn.model_validate(envelope.data)
        return DealerFact(code=withdrawn.code, status="withdrawn", at=withdrawn.withdrawn_at)
    upserted = DealerUpserted.model_validate(envelope.data)
    return DealerFact(code=upserted.code, status=upserted.status, at=upserted.updated_at)


async def record_dealer_facts(session: AsyncSession, table: Table, facts: Iterable[DealerFact]) -> None:
    """Store each dealer's newest status. Compacted topic, redelivery, reordering across restarts: whatever order
    the facts come in, the one with the latest time wins."""
    newest: dict[str, DealerFact] = {}
    for fact in facts:
        known = newest.get(fact.code)
        if known is None or known.at <= fact.at:
            newest[fact.code] = fact
    for fact in newest.values():
        statement = insert(table).values(code=fact.code, status=fact.status, updated_at=fact.at)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.code],
                set_={"status": fact.status, "updated_at": fact.at},
                where=table.c.updated_at <= fact.at,
            )
        )


def dealer_directory_consumer(table: Table, *, name: str = "dealers") -> ConsumerSpec:
    """The consumer that keeps `table` up to date, for a service that reads the dealers topic for nothing else."""

    def make(_runtime: Runtime) -> BatchHandler:
        async def on_dealer_events(session: AsyncSession, envelopes: list[Envelope]) -> None:
            await record_dealer_facts(session, table, (dealer_fact(e) for e in envelopes if e.type in DEALER_TYPES))

        return on_dealer_events

    return ConsumerSpec(name=name, topics=[DEALERS], handler=make, types=DEALER_TYPES)


async def dealer_status(session: AsyncSession, table: Table, code: str) -> str | None:
    """The dealer's status in the directory; None for a dealer it does not know."""
    status = await session.scalar(select(table.c.status).where(table.c.code == code))
    return None if status is None else str(status)


def refuse_unless_active(code: str, status: str | None) -> None:
    if status != ACTIVE:
        raise DealerNotActive(
            f"Dealer {code} is {'withdrawn' if status else 'not registered'}: its tokens may read but not write.",
            extra={"dealer": code, "dealer_status": status or "unknown"},
        )


async def require_active_dealer(session: AsyncSession, table: Table, principal: Principal) -> None:
    """Refuse a write by a dealer token whose dealer is not active (HQ tokens write as HQ)."""
    if principal.role != "dealer" or principal.dealer is None:
        return
    refuse_unless_active(principal.dealer, await dealer_status(session, table, principal.dealer))


class ActiveDealers:
    """The same rule for a hot path that opens no transaction of its own (intake's submit, answered by a group
    commit): a dealer found active is trusted for `ttl_seconds` without asking the database again; any other answer
    is read again each time, so a dealer registered a moment ago can write at once. A withdrawal therefore takes
    effect at most `ttl_seconds` after the service has read the event."""

    def __init__(self, table: Table, *, ttl_seconds: float = 5.0) -> None:
        self.table = table
        self.ttl_seconds = ttl_seconds
        self._active_since: dict[str, float] = {}

    async def is_active(self, db: Database, code: str) -> bool:
        return await self.status(db, code) == ACTIVE

    async def status(self, db: Database, code: str) -> str | None:
        seen = self._active_since.get(code)
        if seen is not None and time.monotonic() - seen < self.ttl_seconds:
            return ACTIVE
        async with db.sessions() as session:
            status = await dealer_status(session, self.table, code)
        if status == ACTIVE:
            self._active_since[code] = time.monotonic()  # bounded by the number of registered dealers
        else:
            self._active_since.pop(code, None)
        return status

    async def require(self, db: Database, principal: Principal) -> None:
        if principal.role != "dealer" or principal.dealer is None:
            return
        refuse_unless_active(principal.dealer, await self.status(db, principal.dealer))
