"""The router's registry on a real PostgreSQL built by its migrations, driven through route_leads itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from dedup_router.batch_routing import route_leads
from dedup_router.dealer_index import DealerIndexCache, bump_dealers_version
from dedup_router.models import OUTBOX, Dealer, DecidedLead
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import LeadSubmitted
from leadnet_shared.outbox import Outbox
from leadnet_shared.settings import to_asyncpg_url
from leadnet_shared.testing import Infra, fresh_database

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def record(
    *,
    phone: str,
    name: str = "张三",
    region: str = "370782",
    tier: str = "retail",
    line: str = "tractor",
    address: str = "山东省潍坊市诸城市密州街道18号",
    vehicles: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A normalized record as intake publishes it (phone already E.164, region resolved)."""
    return {
        "source": "walk_in",
        "customer": {
            "name": name,
            "phone": phone,
            "address": address,
            "region_code": region,
            "tier": tier,
            "nature": "new",
        },
        "vehicles_in_use": vehicles if vehicles is not None else [{"brand": "欧曼", "model": "EST 6", "quantity": 1}],
        "purchase_intent": {"product_line": line, "horizon": "within_2_weeks"},
        "product_line": line,
    }


@dataclass
class RouterDb:
    db: Database
    outbox: Outbox
    prefix: str = ""
    dealers: DealerIndexCache = field(default_factory=DealerIndexCache)

    async def add_dealer(
        self, code: str, territories: list[str], lines: list[str] | None = None, capability: int = 50
    ) -> None:
        async with self.db.transaction() as session:
            session.add(
                Dealer(
                    code=code,
                    name=f"dealer {code}",
                    territories=territories,
                    product_lines=lines or ["tractor"],
                    capability=capability,
                    sales_level=None,
                    status="active",
                    updated_at=T0,
                )
            )
            await bump_dealers_version(session)

    def submitted(
        self, *, dealer: str | None, at: datetime = T0, lead_id: str | None = None, **fields: Any
    ) -> LeadSubmitted:
        return LeadSubmitted(
            lead_id=lead_id or str(uuid.uuid4()),
            entered_by=dealer,
            entered_by_role="dealer" if dealer else "hq_admin",
            submitted_at=at,
            source="walk_in",
            record=record(**fields),
        )

    async def route(self, submitted: LeadSubmitted, *, now: datetime | None = None) -> DecidedLead | None:
        """One record decided in its own transaction: a batch of one."""
        [lead] = await self.route_batch([submitted], now=now or submitted.submitted_at)
        return lead

    async def route_batch(self, submissions: list[LeadSubmitted], *, now: datetime) -> list[DecidedLead | None]:
        async with self.db.transaction() as session:
            return await route_leads(session, self.outbox, submissions=submissions, now=now, dealers=self.dealers)

    async def submit(self, *, dealer: str | None, at: datetime = T0, **fields: Any) -> DecidedLead | None:
        return await self.route(self.submitted(dealer=dealer, at=at, **fields))

    async def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Envelopes written to the outbox, oldest first."""
        async with self.db.sessions() as session:
            rows = (await session.execute(text("SELECT event_type, payload FROM outbox ORDER BY seq"))).all()
        return [orjson.loads(p) for t, p in rows if event_type is None or t == event_type]

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.db.sessions() as session:
            return list((await session.execute(text(sql), params)).all())

    async def truncate(self) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                text(
                    "TRUNCATE customers, leads, pool_counts, sales, sold_vehicles, sale_idempotency_keys, outbox, inbox"
                )
            )
        self.dealers.invalidate()


async def new_router_db(infra: Infra) -> RouterDb:
    url = await fresh_database(infra.database_server_url, "dedup_router")
    db = Database(make_engine(to_asyncpg_url(url), pool_size=8, max_overflow=4))
    return RouterDb(db=db, outbox=Outbox(OUTBOX))


@pytest.fixture
async def router_db(infra: Infra) -> AsyncIterator[RouterDb]:
    rdb = await new_router_db(infra)
    try:
        yield rdb
    finally:
        await rdb.db.dispose()
