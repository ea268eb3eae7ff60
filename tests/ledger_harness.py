"""Test and benchmark support: the ledger's real handlers fed by the kit's real consumer code, without a broker.

`LedgerHarness.deliver` hands a poll's envelopes to the kit's consumer code (`ConsumerLoop.handle`, what
`ConsumerLoop.process` runs before committing offsets): with `batch=True` (production) to the batch handler after
one inbox claim in one transaction, falling back to the one-by-one path if it raises; else straight down the
one-by-one path (`ConsumerLoop.handle_each`: the same handler on batches of one, an inbox claim and a savepoint per
event). Tests and the benchmark exercise the production path on a real PostgreSQL; only Kafka is left out.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import ConsumerRecord
from sqlalchemy import text

from leadnet_shared.app import Runtime
from leadnet_shared.clock import Clock, FrozenClock
from leadnet_shared.consumer import ConsumerLoop
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import (
    Envelope,
    LeadAccepted,
    LeadFacts,
    LeadVerified,
    MaskedCustomer,
    RewardClaim,
    SaleCancelled,
)
from leadnet_shared.outbox import Outbox
from leadnet_shared.settings import to_asyncpg_url
from leadnet_shared.testing import envelope, handler_runtime, lead_event, sale_event
from rewards_ledger.handlers import REWARD_TYPES, reward_handler
from rewards_ledger.models import INBOX, KIT_STATE, OUTBOX
from rewards_ledger.settings import LedgerSettings

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
F = TypeVar("F", bound=LeadFacts)


def _lead(
    model: type[F],
    *,
    lead_id: str,
    customer_id: str,
    entered_by: str | None,
    authorized: str | None,
    eligible: bool = True,
    cross_region: bool = True,
    tier: str = "retail",
    **fields: Any,
) -> F:
    """What `lead.accepted` and `lead.verified` both say of a tractor lead assigned to its authorized dealer."""
    return lead_event(
        model,
        lead_id,
        customer_id,
        dealer=authorized,
        entered_by=entered_by,
        cross_region=cross_region,
        reward_eligible=eligible,
        tier=tier,
        product_line="tractor",
        **fields,
    )


def lead_accepted(
    *,
    customer_existed: bool = False,
    name: str = "张*",
    phone: str = "138****8000",
    at: datetime = T0,
    **lead: Any,
) -> Envelope:
    """`lead.accepted` as the router publishes it; `lead`: the fields of `_lead`."""
    customer = MaskedCustomer(name=name, phone=phone, address="山东省潍坊市诸城市***")
    data = _lead(LeadAccepted, customer_existed=customer_existed, accepted_at=at, customer=customer, **lead)
    return envelope(data, at=at)


def lead_verified(*, at: datetime = T0, **lead: Any) -> Envelope:
    """`lead.verified` as the scheduler publishes it; `lead`: the fields of `_lead`."""
    return envelope(_lead(LeadVerified, verified_at=at, **lead), at=at)


def router_claims(
    *,
    seller: str,
    supplied_by: str | None,
    entered_by: str | None,
    authorized: str | None,
    vehicles: Sequence[tuple[str, str | None]],
) -> list[RewardClaim]:
    """The claims the router's attribution makes of a sale to a cross-region retail record (the ledger pays what
    the event claims): a purchase reward when another dealer sold, a guarantee per vehicle when the entrant sold
    with the authorized dealer's supply, nothing when it sold from its own stock."""
    if entered_by is None:
        return []
    if seller != entered_by:
        return [RewardClaim(kind="purchase_reward", dealer=entered_by)]
    if supplied_by in (None, seller) or (authorized is not None and supplied_by != authorized):
        return []
    return [
        RewardClaim(kind="profit_guarantee", dealer=entered_by, vin=vin, product_line=line) for vin, line in vehicles
    ]


def sale_attributed(
    *,
    sale_id: str,
    customer_id: str,
    lead_id: str | None,
    seller: str,
    supplied_by: str | None,
    vehicles: Sequence[tuple[str, str | None]],
    entered_by: str | None = None,
    authorized: str | None = None,
    at: datetime = T0,
    claims: Sequence[RewardClaim] | None = None,
) -> Envelope:
    """A confirmed sale as the router announces it; `claims` default to what the router's rule makes of it."""
    if claims is None:
        claims = router_claims(
            seller=seller, supplied_by=supplied_by, entered_by=entered_by, authorized=authorized, vehicles=vehicles
        )
    # Attributed to a cross-region retail record `entered_by` entered.
    lead = dict(attributed_lead_id=lead_id, lead_entered_by=entered_by, lead_cross_region=True, lead_tier="retail")
    sale = sale_event(sale_id, customer_id, seller=seller, supplied_by=supplied_by, at=at, vehicles=vehicles, **lead)
    return envelope(sale.model_copy(update={"rewards": list(claims)}), at=at)


def sale_cancelled(*, sale_id: str, customer_id: str, at: datetime = T0) -> Envelope:
    return envelope(SaleCancelled(sale_id=sale_id, customer_id=customer_id, cancelled_at=at), at=at)


def redelivered(envelope: Envelope) -> Envelope:
    """The same event again (same id): the inbox must absorb it."""
    return envelope.model_copy()


def republished(envelope: Envelope) -> Envelope:
    """The same business fact in a new event (new id), as a producer retry or a replay would publish it."""
    return envelope.model_copy(update={"id": str(uuid.uuid4())})


@dataclass
class LedgerHarness:
    db: Database
    runtime: Runtime
    loop: ConsumerLoop
    batch: bool = False
    fallbacks: int = 0  # polls the batch handler failed and the one-by-one path handled

    @classmethod
    def open(
        cls,
        database_url: str,
        *,
        clock: Clock | None = None,
        pool_size: int = 4,
        batch: bool = False,
        topic_prefix: str = "t.",
    ) -> LedgerHarness:
        # `topic_prefix`: the app's, when a running ledger app shares this database — its relay publishes the rows
        # this harness writes, and a topic that does not exist holds the relay in `send` until shutdown.
        settings = LedgerSettings(
            env="test", service_database_url=database_url, topic_prefix=topic_prefix, jwks_file="unused"
        )
        db = Database(make_engine(to_asyncpg_url(database_url), pool_size=pool_size))
        outbox = Outbox(OUTBOX, topic_prefix=settings.topic_prefix, source="/leadnet/ledger")
        runtime = handler_runtime(
            settings, db, (OUTBOX, INBOX, KIT_STATE), clock=clock or FrozenClock(T0), outbox=outbox
        )
        loop = ConsumerLoop(
            name="rewards",
            service="ledger",
            topics=[],
            handler=reward_handler(runtime),
            types=REWARD_TYPES,
            db=db,
            inbox=runtime.inbox,
            outbox=runtime.outbox,
            bootstrap_servers="unused",
            group_id="unused",
            max_attempts=1,
            clock=runtime.clock,
        )
        return cls(db=db, runtime=runtime, loop=loop, batch=batch)

    async def deliver(self, envelopes: Sequence[Envelope]) -> None:
        """One poll's worth of events in one transaction, as the consumer loop handles it."""
        await self.deliver_raw(
            [envelope.to_bytes() for envelope in envelopes],
            keys=[(envelope.subject or "").encode() for envelope in envelopes],
        )

    async def deliver_raw(self, values: Sequence[bytes], *, keys: Sequence[bytes | None] | None = None) -> None:
        """A poll of messages as they come off the topic (serialized envelopes)."""
        records = [
            ConsumerRecord(
                topic="t.events",
                partition=0,
                offset=offset,
                timestamp=0,
                timestamp_type=0,
                key=keys[offset] if keys else None,
                value=value,
                checksum=None,
                serialized_key_size=0,
                serialized_value_size=len(value),
                headers=(),
            )
            for offset, value in enumerate(values)
        ]
        if not self.batch:
            await self.loop.handle_each(records)
            return
        self.fallbacks += not await self.loop.handle(records)

    async def dead_letters(self) -> int:
        async with self.db.sessions() as session:
            value = await session.scalar(
                text("SELECT count(*) FROM outbox WHERE event_type = 'leadnet.event.dead_lettered'")
            )
        return int(value or 0)

    async def balances(self) -> dict[str, int]:
        """Each dealer's balance as its payable account's lines say (credit = owed to the dealer)."""
        async with self.db.sessions() as session:
            rows = (
                await session.execute(
                    text("SELECT account, -sum(amount_fen) FROM lines WHERE account LIKE 'dealer:%' GROUP BY account")
                )
            ).all()
        return {str(a).split(":")[1]: int(v) for a, v in rows if int(v) != 0}

    async def entries(self) -> list[dict[str, Any]]:
        async with self.db.sessions() as session:
            rows = (await session.execute(text("SELECT * FROM postings ORDER BY seq"))).mappings().all()
        return [dict(r) for r in rows]

    async def close(self) -> None:
        await self.db.dispose()


@asynccontextmanager
async def opened_ledger(database_url: str, *, clock: Clock, batch: bool) -> AsyncIterator[LedgerHarness]:
    """A harness for a test; on the batch path the test fails if a poll fell back to the one-by-one path."""
    harness = LedgerHarness.open(database_url, clock=clock, batch=batch)
    try:
        yield harness
        assert harness.fallbacks == 0, "the batch handler failed and the one-by-one path took over"
    finally:
        await harness.close()
