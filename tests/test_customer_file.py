"""The customer file across the services (issue 17 §7) on real PostgreSQL and Kafka: one customer's story — record
entered and accepted, callback scheduled and completed with what it learnt, the dealer's correction, the sale and
the rewards — in the router's timeline, in order, with who and when, masked for an analyst and not there at all for
another dealer; a bad correction reports every problem at once and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from dedup_router.vin import with_check_digit
from leadnet.demo import DEMO_RECORD
from leadnet_shared.testing import Infra, eventually
from tests.fixtures import DEALERS, registry_vehicle
from tests.pipeline import Pipeline, pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

VIN = with_check_digit("LFWSRXRJ0N1000001")
NEW_PHONE = "139 0013 9001"
CALLBACK_CONTENT = {
    "information_confirmed": False,
    "contact_corrected": ["phone"],
    "vehicles_in_use": [{"brand": "欧曼", "model": "EST 6", "quantity": 3, "function": "tractor"}],
    "usage": {"cargo": "砂石", "load_tons": 40, "haul_distance_km": 150},
    "suggestions": "新号码 13900139001，想要更省油的车",
    "purchase_intent": {"product_line": "tractor", "quantity": 2, "horizon": "within_2_months"},
}


async def _timeline(p: Pipeline, customer_id: str, headers: dict[str, str], **params: Any) -> Any:
    r = await p.router.get(f"/v1/customers/{customer_id}/timeline", headers=headers, params=params)
    return r


async def _all_items(p: Pipeline, customer_id: str, headers: dict[str, str], *, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await _timeline(p, customer_id, headers, **params)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


def _types(items: list[dict[str, Any]]) -> list[str]:
    return [i["type"] for i in items]


class TestCustomerFile:
    async def test_one_customers_story_in_order_masked_per_role(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            hq, analyst = p.auth("hq_admin"), p.auth("hq_analyst")
            d001, d002, d003 = (p.auth("dealer", d) for d in ("D001", "D002", "D003"))
            await p.register_dealers(*DEALERS)
            await p.register_vehicles(registry_vehicle(VIN))

            # D002 (Jinan) enters a Weifang customer: accepted, assigned to D001, which gets a callback.
            r = await p.intake.post("/v1/leads", json=DEMO_RECORD, headers=d002)
            assert r.status_code == 201, r.text
            customer_id = r.json()["customer_id"]

            task_id = await p.first_task("D001")
            # Contact values never travel with a completion: the new phone is applied with PATCH.
            r = await p.scheduler.post(
                f"/v1/tasks/{task_id}/complete",
                headers=d001,
                json={"outcome": "within_2_months", "content": {**CALLBACK_CONTENT, "phone": NEW_PHONE}},
            )
            assert (r.status_code, [(e["field"], e["code"]) for e in r.json()["errors"]]) == (
                422,
                [("/content/phone", "unknown_field")],
            )
            r = await p.scheduler.post(
                f"/v1/tasks/{task_id}/complete",
                headers=d001,
                json={"outcome": "within_2_months", "info_verified": True, "content": CALLBACK_CONTENT},
            )
            assert r.status_code == 200, r.text
            shown = r.json()["task"]["content"]
            assert shown["usage"] == {"cargo": "砂石", "load_tons": 40.0, "haul_distance_km": 150.0}
            assert "13900139001" not in shown["suggestions"]  # redacted for every reader, as on the topic

            # A bad correction: every problem at once, nothing changed.
            before = (await p.router.get(f"/v1/customers/{customer_id}", headers=hq)).json()
            r = await p.router.patch(
                f"/v1/customers/{customer_id}",
                headers=d001,
                json={
                    "phone": "12345",
                    "name": None,
                    "address": "   ",
                    "vehicles_in_use": [{"brand": "欧曼", "quantity": 0}],
                    "purchase_intent": {"horizon": "someday"},
                    "assigned_dealer": "D001",
                },
            )
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert sorted((e["field"], e["code"]) for e in r.json()["errors"]) == [
                ("/address", "too_short"),
                ("/assigned_dealer", "unknown_field"),
                ("/name", "invalid_type"),
                ("/phone", "invalid_phone"),
                ("/purchase_intent/horizon", "invalid_enum"),
                ("/vehicles_in_use/0/quantity", "out_of_range"),
            ]
            assert (await p.router.get(f"/v1/customers/{customer_id}", headers=hq)).json() == before

            # Who may correct: the assigned dealer and hq_admin; the entrant and others do not see it, HQ's
            # analyst reads only.
            assert (
                await p.router.patch(f"/v1/customers/{customer_id}", headers=d002, json={"name": "王五"})
            ).status_code == 404
            assert (
                await p.router.patch(f"/v1/customers/{customer_id}", headers=analyst, json={"name": "王五"})
            ).status_code == 403

            # D001 applies what the callback learnt.
            r = await p.router.patch(
                f"/v1/customers/{customer_id}",
                headers=d001,
                json={
                    "phone": NEW_PHONE,
                    "vehicles_in_use": CALLBACK_CONTENT["vehicles_in_use"],
                    "usage": CALLBACK_CONTENT["usage"],
                },
            )
            assert r.status_code == 200, r.text
            corrected = r.json()
            assert (corrected["phone"], corrected["masked"]) == ("+8613900139001", False)
            assert corrected["usage"] == {"cargo": "砂石", "load_tons": 40.0, "haul_distance_km": 150.0}
            assert corrected["purchase_intent"]["horizon"] == DEMO_RECORD["purchase_intent"]["horizon"]

            # The sale is reported under the corrected phone: the same customer.
            # Sold now: after the record was entered (the flow above may take well under a second), and not ahead of
            # the router's clock, which reads the same wall clock a moment later.
            sold_at = datetime.now(UTC)
            r = await p.router.post(
                "/v1/sales",
                headers=d001,
                json={"customer_phone": NEW_PHONE, "sold_at": sold_at.isoformat(), "vehicles": [{"vin": VIN}]},
            )
            assert r.status_code == 201, r.text
            assert r.json()["customer_id"] == customer_id

            story = [
                "leadnet.lead.accepted",
                "leadnet.task.scheduled",
                "leadnet.task.completed",
                "leadnet.customer.corrected",
                "leadnet.sale.attributed",
            ]

            async def whole_story() -> list[dict[str, Any]] | None:
                items = await _all_items(p, customer_id, hq, limit=3)
                types = _types(items)
                complete = all(t in types for t in [*story, "leadnet.lead.verified"])
                # The story settles only once the sale's own consequences are in: the entrant's conversion fee
                # (the second entry, after the information fee) and the two tasks the sale starts (relationship
                # maintenance and the repurchase reminder) beside the first callback and its follow-up. Reading
                # earlier races them, and the totals compared below would count a moving list.
                settled = types.count("leadnet.ledger.entry_posted") >= 2 and types.count("leadnet.task.scheduled") >= 4
                return items if complete and settled else None

            items = await eventually(whole_story, within=30)
            types = _types(items)
            firsts = [types.index(t) for t in story]
            assert firsts == sorted(firsts), types
            # The callback's follow-up is planned after it, the entrant's information fee after the verification.
            assert types.count("leadnet.task.scheduled") >= 2
            assert types.index("leadnet.lead.verified") < types.index("leadnet.ledger.entry_posted")
            times = [i["occurred_at"] for i in items]
            assert times == sorted(times)
            assert len({i["event_id"] for i in items}) == len(items)
            by_type = {i["type"]: i for i in items}
            assert by_type["leadnet.lead.accepted"]["dealer"] == "D002"  # who entered it
            assert by_type["leadnet.customer.corrected"]["actor"] is not None
            assert by_type["leadnet.customer.corrected"]["dealer"] == "D001"

            # What the callback learnt travels as data, without the phone it heard.
            content = by_type["leadnet.task.completed"]["summary"]["content"]
            assert content["contact_corrected"] == ["phone"]
            assert content["usage"]["cargo"] == "砂石" and content["purchase_intent"]["horizon"] == "within_2_months"
            assert "13900139001" not in content["suggestions"] and "省油" in content["suggestions"]

            # hq_admin sees the correction's real values; the analyst the published, masked ones.
            changes = by_type["leadnet.customer.corrected"]["summary"]["changes"]
            assert changes[0] == {"field": "phone", "old": "+8613800138000", "new": "+8613900139001"}
            r = await _timeline(p, customer_id, analyst, limit=500)
            assert r.status_code == 200
            page = r.json()
            customer = (await p.router.get(f"/v1/customers/{customer_id}", headers=analyst)).json()
            assert customer["masked"] is True and customer["phone"] == "139****9001"
            assert page["total"] == len(items) and _types(page["items"]) == types
            masked = next(i for i in page["items"] if i["type"] == "leadnet.customer.corrected")
            assert masked["summary"]["changes"][0] == {"field": "phone", "old": "138****8000", "new": "139****9001"}
            raw = orjson.dumps(page).decode()
            assert "13900139001" not in raw and "13800138000" not in raw and "密州街道" not in raw

            # The assigned dealer reads it unmasked, without the entrant's rewards; the entrant and a third
            # dealer are told the customer does not exist.
            r = await _timeline(p, customer_id, d001, limit=500)
            assert r.status_code == 200
            mine = next(i for i in r.json()["items"] if i["type"] == "leadnet.customer.corrected")
            assert mine["summary"]["changes"][0]["new"] == "+8613900139001"
            assert all(i["dealer"] == "D001" for i in r.json()["items"] if i["type"].startswith("leadnet.ledger."))
            for other in (d002, d003):
                r = await _timeline(p, customer_id, other)
                assert (r.status_code, r.json()["code"]) == (404, "not_found")
            assert (await _timeline(p, "no-such-customer", hq)).status_code == 404
