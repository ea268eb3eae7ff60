"""Repair what a masking fix cannot reach by itself: `leadnet.public.customers.v1` is compacted, so the last
`customer.upserted` of each customer stays for ever. When the masking rules change (MASKING_VERSION), every
customer's masked state is published again, in batches, so compaction overwrites what went out before.

Runs once per masking version across restarts and replicas: progress (the last customer id done) is kept in
`kit_state` and advanced in the same transaction as each batch's outbox rows, under that row's lock.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.events import publish_customer_upserted
from dedup_router.repository.customers import customers_after
from dedup_router.repository.state import lock_state, write_state
from leadnet_shared.app import Runtime
from leadnet_shared.outbox import Outbox
from leadnet_shared.workers import Step, periodic

log = logging.getLogger(__name__)

# 2: addresses masked from the region code (province, city, county names), no longer cut from the free text.
MASKING_VERSION = 2
STATE_KEY = "customers_masking"


async def republish_masked_batch(session: AsyncSession, outbox: Outbox, *, now: Any, limit: int = 500) -> int:
    """Publish the next `limit` customers' masked state; returns how many (0 when this version is done)."""
    state = await lock_state(session, STATE_KEY) or {"version": 0}
    if state.get("version", 0) >= MASKING_VERSION and state.get("after") is None:
        return 0
    if state.get("version", 0) < MASKING_VERSION:
        state = {"version": MASKING_VERSION, "after": ""}
    customers = await customers_after(session, state["after"], limit=limit)
    for customer in customers:
        await publish_customer_upserted(session, outbox, customer=customer, now=now)
    state["after"] = customers[-1].customer_id if len(customers) == limit else None
    await write_state(session, STATE_KEY, state)
    return len(customers)


def republish_step(runtime: Runtime) -> Step:
    """One batch per pass until every customer went out again for this masking version; then a look an hour (a
    cheap read of kit_state) in case a restore brought back an older state."""

    async def step() -> float:
        async with runtime.db.transaction() as session:
            done = await republish_masked_batch(session, runtime.outbox, now=runtime.clock.now())
        if done:
            log.debug("republished the masked state of %d customers (masking version %d)", done, MASKING_VERSION)
            return 0.0
        return 3600.0

    return step


republish_masked_customers = periodic("republish-masked-customers", republish_step)
