"""The possible-duplicate candidate cap (policy `candidates.per_record`): a record is compared with the customers of
lowest id sharing one of its keys, at most that many (real PostgreSQL).

The registry holds `cap` customers with the same name in the same county (strength 0.6) and one more customer, of
a higher id, with the same name and the same fleet (strength 1.0). Inside the cap the strongest match would be the
1.0 one; past it, that customer is never read, so the warning says 0.6 and names the lowest id.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from dedup_router.models import DecidedLead, RoutedLead
from dedup_router.possible_duplicates import candidate_limit, duplicate_keys, possible_duplicates_policy
from dedup_router.routing import _vehicles

from .conftest import RouterDb, record

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

FLEET = [{"brand": "欧曼", "model": "EST 6", "quantity": 3}]
REGION = "370782"


def _id(n: int) -> str:
    return str(uuid.UUID(int=n))


async def _seed(rdb: RouterDb, *, name_only: int) -> str:
    """`name_only` customers sharing the name key (ids 1..n), then one sharing name and fleet (a higher id)."""
    keys = duplicate_keys(name="张三", region_code=REGION, vehicles=_vehicles(record(phone="x", vehicles=FLEET)))
    both = _id(10_000)
    rows = [{"id": _id(i + 1), "phone": f"+86137{i:08d}", "fleet": None} for i in range(name_only)]
    rows.append({"id": both, "phone": "+8613699999999", "fleet": keys.fleet_city})
    async with rdb.db.transaction() as session:
        for row in rows:
            await session.execute(
                text(
                    "INSERT INTO customers (customer_id, phone, name, address, region_code, tier, nature, "
                    "name_county_key, fleet_city_key) VALUES (:id, :phone, '张三', 'addr', :region, 'retail', 'new', "
                    ":name_key, :fleet)"
                ),
                {**row, "region": REGION, "name_key": keys.name_county},
            )
    return both


def _possible(event: dict[str, Any]) -> tuple[list[str], float]:
    [warning] = [w for w in event["data"]["warnings"] if w["code"] == "possible_duplicate"]
    return warning["matched"], warning["strength"]


class TestCandidateCapIsPolicy:
    def test_the_cap_is_read_from_the_policy(self) -> None:
        assert candidate_limit() == possible_duplicates_policy()["candidates"]["per_record"] == 50
        assert candidate_limit({"candidates": {"per_record": 3}}) == 3


class TestCandidatesPastTheCapAreNotCompared:
    async def test_inside_the_cap_the_strongest_match_wins(self, router_db: RouterDb) -> None:
        await router_db.add_dealer("D001", ["3707"])
        both = await _seed(router_db, name_only=candidate_limit() - 1)
        await self._decide(router_db)
        [accepted] = await router_db.events("leadnet.lead.accepted")
        assert _possible(accepted) == (["name_county", "fleet_city"], 1.0)
        assert accepted["data"]["lead_id"] in {
            r[0]
            for r in await router_db.rows(
                "SELECT lead_id FROM leads WHERE explanation -> 'possible_duplicate' ->> 'customer_id' = :c", c=both
            )
        }

    async def test_past_the_cap_the_stronger_customer_is_not_read(self, router_db: RouterDb) -> None:
        await router_db.add_dealer("D001", ["3707"])
        await _seed(router_db, name_only=candidate_limit())
        await self._decide(router_db)
        [accepted] = await router_db.events("leadnet.lead.accepted")
        assert _possible(accepted) == (["name_county"], 0.6)
        [(matched_id,)] = await router_db.rows(
            "SELECT explanation -> 'possible_duplicate' ->> 'customer_id' FROM leads"
        )
        assert matched_id == _id(1)  # equally strong: the lowest id

    @staticmethod
    async def _decide(rdb: RouterDb) -> None:
        submitted = rdb.submitted(dealer="D001", phone="+8613800138000", name="张三", region=REGION, vehicles=FLEET)
        assert await rdb.route(submitted) is not None


class TestDecidedLeadIsTheLeadsRow:
    def test_its_fields_are_the_leads_columns(self) -> None:
        # route_leads inserts DecidedLead.row() as is: a column added to the table must be added here too.
        assert [f.name for f in dataclasses.fields(DecidedLead)] == [c.key for c in RoutedLead.__table__.columns]
