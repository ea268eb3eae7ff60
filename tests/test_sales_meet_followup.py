"""One customer, one story (issue 17 §2, §4, §5) through intake, router, scheduler and ledger on real PostgreSQL and
Kafka: a confirmed sale verifies its record once (one information fee, even when a callback verifies it too), stops
the customer's callbacks and promotions and starts maintenance; a `bought` callback asks for a sale report that the
sale closes; a later record that raises the tier times the next task by the new tier; a customer buying within a
year is not called back within the short interval."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from dedup_router.vin import with_check_digit
from leadnet.demo import DEMO_RECORD
from leadnet_shared.testing import Infra, eventually
from tests.fixtures import DEALERS, registry_vehicle
from tests.pipeline import Pipeline, pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

V1, V2, V3 = (with_check_digit(f"LFWSRXRJ0N1{i:06d}") for i in (11, 12, 13))
PHONE_A, PHONE_B, PHONE_C = "138 0013 8000", "139 0013 8001", "137 0013 8002"


def _record(phone: str, *, tier: str = "retail", horizon: str = "within_2_weeks") -> dict[str, Any]:
    record = copy.deepcopy(DEMO_RECORD)
    record["customer"]["phone"] = phone
    record["customer"]["tier"] = tier
    record["purchase_intent"]["horizon"] = horizon
    return record


async def _setup(p: Pipeline) -> None:
    await p.register_dealers(*DEALERS)
    await p.register_vehicles(*(registry_vehicle(vin) for vin in (V1, V2, V3)))


async def _enter(p: Pipeline, record: dict[str, Any], *, by: str) -> dict[str, Any]:
    r = await p.intake.post("/v1/leads", json=record, headers=p.auth("dealer", by))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _tasks(p: Pipeline, lead_id: str) -> list[dict[str, Any]]:
    rows = await _scheduler_rows(
        p,
        "SELECT task_id, kind, dealer, status, due_at, reason FROM tasks WHERE lead_id = :l ORDER BY planned_at",
        l=lead_id,
    )
    return [dict(row._mapping) for row in rows]


async def _open(p: Pipeline, lead_id: str) -> list[tuple[str, str]]:
    return sorted((t["kind"], t["dealer"]) for t in await _tasks(p, lead_id) if t["status"] in ("open", "overdue"))


async def _scheduler_rows(p: Pipeline, sql: str, **params: Any) -> list[Any]:
    async with p.apps["scheduler"].state.runtime.db.sessions() as session:
        return list((await session.execute(text(sql), params)).all())


async def _router_rows(p: Pipeline, sql: str, **params: Any) -> list[Any]:
    async with p.apps["router"].state.runtime.db.sessions() as session:
        return list((await session.execute(text(sql), params)).all())


async def _verifications(p: Pipeline, lead_id: str) -> list[str]:
    """Every `lead.verified` the scheduler published for the record: who verified it."""
    rows = await _scheduler_rows(p, "SELECT payload FROM outbox WHERE event_type = 'leadnet.lead.verified'")
    data = [orjson.loads(row[0])["data"] for row in rows]
    return [d["by"] for d in data if d["lead_id"] == lead_id]


async def _entries(p: Pipeline, dealer: str) -> list[tuple[str, int, str | None]]:
    r = await p.ledger.get(f"/v1/ledger/entries?dealer={dealer}", headers=p.auth("hq_analyst"))
    return sorted((e["kind"], e["amount_fen"], e["lead_id"]) for e in r.json()["items"])


async def _complete(p: Pipeline, task_id: str, outcome: str, *, verified: bool = False) -> dict[str, Any]:
    r = await p.scheduler.post(
        f"/v1/tasks/{task_id}/complete",
        headers=p.auth("dealer", "D001"),
        json={"outcome": outcome, "info_verified": verified},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _first_task(p: Pipeline, lead_id: str) -> dict[str, Any]:
    async def found() -> list[dict[str, Any]]:
        return [t for t in await _tasks(p, lead_id) if t["status"] == "open"]

    tasks: list[dict[str, Any]] = await eventually(found)
    return tasks[0]


def _sale(phone: str, vin: str) -> dict[str, Any]:
    return {"customer_phone": phone, "sold_at": datetime.now(UTC).isoformat(), "vehicles": [{"vin": vin}]}


class TestSalesMeetFollowUp:
    async def test_a_sale_verifies_once_stops_prospecting_starts_maintenance_and_closes_the_report(
        self, infra: Infra
    ) -> None:
        async with pipeline(infra) as p:
            await _setup(p)
            # D002 (Jinan) enters three Weifang retail customers: cross-region, each routed to D001.
            a = await _enter(p, _record(PHONE_A), by="D002")
            b = await _enter(p, _record(PHONE_B), by="D002")
            c = await _enter(p, _record(PHONE_C), by="D002")
            assert {a["assigned_dealer"], b["assigned_dealer"], c["assigned_dealer"]} == {"D001"}
            _first_a, first_b, first_c = [await _first_task(p, x["lead_id"]) for x in (a, b, c)]

            # B: a callback verifies the record first (its fee), C: the callback hears "bought".
            await _complete(p, first_b["task_id"], "within_1_month", verified=True)
            bought = await _complete(p, first_c["task_id"], "bought")
            assert bought["next_task"]["kind"] == "maintenance"
            report = [t for t in await _tasks(p, c["lead_id"]) if t["kind"] == "sale_report"]
            assert [(t["dealer"], t["status"]) for t in report] == [("D001", "open")]
            # Due in 7 days (sale_followup.toml), moved earlier off a weekend or holiday.
            assert timedelta(days=3) <= report[0]["due_at"] - datetime.now(UTC) <= timedelta(days=7)

            # D001 sells each of them a truck from its own stock: confirmed at once, announced to everyone.
            d001 = p.auth("dealer", "D001")
            for phone, vin in ((PHONE_A, V1), (PHONE_B, V2), (PHONE_C, V3)):
                r = await p.router.post("/v1/sales", headers=d001, json=_sale(phone, vin))
                assert (r.status_code, r.json()["status"]) == (201, "attributed"), r.text

            for lead in (a, b, c):
                # No more prospecting; relationship maintenance and a repurchase reminder for the buying dealer.
                async def settled(lead_id: str = lead["lead_id"]) -> bool:
                    return await _open(p, lead_id) == [("maintenance", "D001"), ("repurchase", "D001")]

                assert await eventually(settled)
            assert {t["status"] for t in await _tasks(p, a["lead_id"]) if t["kind"] == "promotion"} == {"cancelled"}
            assert [t["status"] for t in await _tasks(p, c["lead_id"]) if t["kind"] == "sale_report"] == ["done"]

            # A and C are verified by their sale, B by its callback: each once.
            assert await _verifications(p, a["lead_id"]) == ["sale"]
            assert await _verifications(p, b["lead_id"]) == ["callback"]
            assert await _verifications(p, c["lead_id"]) == ["sale"]

            # A's maintenance call confirms the information again: the record is verified already.
            maintenance = next(t for t in await _tasks(p, a["lead_id"]) if t["kind"] == "maintenance")
            await _complete(p, maintenance["task_id"], "no_demand", verified=True)
            assert await _verifications(p, a["lead_id"]) == ["sale"]

            # The ledger: one information fee per record, one purchase reward per record, to the entrant.
            expected = sorted(
                [("info_fee", 200, x["lead_id"]) for x in (a, b, c)]
                + [("purchase_reward", 10000, x["lead_id"]) for x in (a, b, c)]
            )

            async def paid() -> bool:
                return await _entries(p, "D002") == expected

            assert await eventually(paid, within=20)
            await asyncio.sleep(1.5)  # nothing more arrives later
            assert await _entries(p, "D002") == expected

    async def test_tier_raised_by_a_later_record_times_the_next_task_and_next_year_is_not_called_soon(
        self, infra: Infra
    ) -> None:
        async with pipeline(infra) as p:
            await _setup(p)
            first = await _enter(p, _record(PHONE_A, horizon="within_2_months"), by="D002")
            task = await _first_task(p, first["lead_id"])
            assert "for retail" in task["reason"]

            # D003 (Qingdao) knows better: the customer is gold/silver.
            later = await _enter(p, _record(PHONE_A, tier="gold_silver", horizon="within_2_months"), by="D003")
            assert later["customer_id"] == first["customer_id"]
            r = await p.router.get(f"/v1/customers/{first['customer_id']}", headers=p.auth("hq_admin"))
            assert r.json()["tier"] == "gold_silver"
            changes = await _router_rows(
                p, "SELECT payload FROM outbox WHERE event_type = 'leadnet.customer.tier_changed'"
            )
            assert [
                (d["customer_id"], d["old_tier"], d["new_tier"], d["reason"], d["lead_id"])
                for d in (orjson.loads(row[0])["data"] for row in changes)
            ] == [(first["customer_id"], "retail", "gold_silver", "later_record", later["lead_id"])]
            topic = {orjson.loads(row[0]).get("type") for row in changes}
            assert topic == {"leadnet.customer.tier_changed"}

            async def raised() -> bool:
                rows = await _scheduler_rows(p, "SELECT tier FROM leads WHERE lead_id = :l", l=first["lead_id"])
                return rows == [("gold_silver",)]

            assert await eventually(raised)

            # The next callback of the first record is timed for gold/silver: 3 days, not retail's 7.
            done = await _complete(p, task["task_id"], "within_2_months")
            next_task = done["next_task"]
            assert "for gold_silver: due in 3 days" in next_task["reason"], next_task
            due = datetime.fromisoformat(next_task["due_at"])
            assert due <= datetime.now(UTC) + timedelta(days=3)

            # "Within a year": the next call is the interval away, not inside the 3-day "more than a month" row.
            done = await _complete(p, next_task["task_id"], "within_1_year")
            due = datetime.fromisoformat(done["next_task"]["due_at"])
            assert due > datetime.now(UTC) + timedelta(days=30), done["next_task"]
            assert "every 60 days" in done["next_task"]["reason"]
