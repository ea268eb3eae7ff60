"""Masked state republished on the compacted customers topic once per masking version (review H1: what already
went out with a street address is overwritten by compaction)."""

from __future__ import annotations

from datetime import timedelta

import orjson
from sqlalchemy import text

from dedup_router.republish import MASKING_VERSION, STATE_KEY, republish_masked_batch

from .conftest import T0, RouterDb


async def republish_all(rdb: RouterDb, *, limit: int) -> list[int]:
    done = []
    while True:
        async with rdb.db.transaction() as session:
            n = await republish_masked_batch(session, rdb.outbox, now=T0 + timedelta(days=1), limit=limit)
        done.append(n)
        if n == 0:
            return done


class TestRepublishMaskedCustomers:
    async def test_every_customer_once_per_masking_version(self, router_db: RouterDb) -> None:
        await router_db.truncate()
        await router_db.add_dealer("D003", ["370782"])
        await router_db.submit(
            dealer="D003", phone="+8613800138001", address="山东潍坊诸城密州街道东坡北街18号金都花园小区"
        )
        await router_db.submit(dealer="D003", phone="+8613800138002")
        await router_db.submit(dealer="D003", phone="+8613800138003")
        async with router_db.db.transaction() as session:
            await session.execute(text("DELETE FROM outbox"))

        assert await republish_all(router_db, limit=2) == [2, 1, 0]
        events = await router_db.events("leadnet.customer.upserted")
        assert len({e["data"]["customer_id"] for e in events}) == 3 == len(events)
        assert {e["data"]["customer"]["address"] for e in events} == {"山东省潍坊市诸城市***"}
        assert "东坡北街" not in orjson.dumps(events).decode()

        assert await republish_all(router_db, limit=2) == [0]  # done for this version: nothing again

        async with router_db.db.transaction() as session:  # a later masking version publishes all again
            await session.execute(
                text("UPDATE kit_state SET value = CAST(:v AS jsonb) WHERE key = :k"),
                {"k": STATE_KEY, "v": orjson.dumps({"version": MASKING_VERSION - 1}).decode()},
            )
        assert sum(await republish_all(router_db, limit=500)) == 3
