"""Sales that pay money are confirmed facts, through intake, router, scheduler and ledger on real PostgreSQL and Kafka
(issue 16 §1, review finding C1): a dealer with one real cross-region record cannot be paid for invented vehicles,
free-text product lines or any sold_at; a supplied sale is paid once per vehicle after its supplier confirms it, a
rejected one never; sales and protection lookups are rate limited per caller."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dedup_router.rate_limit import RateLimiter
from dedup_router.state import router_state
from dedup_router.vin import with_check_digit
from leadnet.demo import DEMO_RECORD
from leadnet_shared.testing import Infra, eventually
from tests.fixtures import DEALERS_WITH_DUMPS, registry_vehicle
from tests.pipeline import Pipeline, pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

V1, V2, V3, INVENTED = (with_check_digit(f"LFWSRXRJ0N1{i:06d}") for i in (1, 2, 3, 4))
BAD_CHECK_DIGIT = V1[:8] + ("0" if V1[8] != "0" else "1") + V1[9:]


async def _entries(p: Pipeline, dealer: str) -> list[tuple[str, int, str | None]]:
    r = await p.ledger.get(f"/v1/ledger/entries?dealer={dealer}", headers=p.auth("hq_analyst"))
    return [(e["kind"], e["amount_fen"], e["vin"]) for e in r.json()["items"]]


async def _balance(p: Pipeline, dealer: str) -> int:
    r = await p.ledger.get(f"/v1/ledger/accounts/{dealer}", headers=p.auth("hq_analyst"))
    return int(r.json()["balance_fen"])


def _sale(sold_at: datetime, *vins: str, supplied_by: str | None = "D001") -> dict[str, Any]:
    return {
        "customer_phone": "138 0013 8000",
        "sold_at": sold_at.isoformat(),
        "supplied_by": supplied_by,
        "vehicles": [{"vin": v, "product_line": "tractor"} for v in vins],
    }


class TestConfirmedSales:
    async def test_invented_sales_are_refused_and_a_confirmed_one_pays_once_per_vehicle(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await p.register_dealers(*DEALERS_WITH_DUMPS)  # and wait until intake and the scheduler know them
            await p.register_vehicles(
                registry_vehicle(V1, "D001", "dump"), registry_vehicle(V2, "D001"), registry_vehicle(V3, "D003")
            )
            r = await p.router.put(
                "/v1/vehicles",
                headers=p.auth("dealer", "D002"),
                json={
                    "vehicles": [
                        {
                            "vin": INVENTED,
                            "model": "x",
                            "product_line": "tractor",
                            "delivered_to": "D002",
                            "delivered_at": "2026-10-01T00:00Z",
                        }
                    ]
                },
            )
            assert r.status_code == 403  # only HQ writes the maker's registry
            r = await p.router.get(f"/v1/vehicles/{V1}", headers=p.auth("dealer", "D001"))
            assert (r.status_code, r.json()["product_line"]) == (200, "dump")
            assert (await p.router.get(f"/v1/vehicles/{V1}", headers=p.auth("dealer", "D002"))).status_code == 404

            # D002 (Jinan) enters one real cross-region retail record; D001 (Weifang) verifies it on its callback.
            r = await p.intake.post("/v1/leads", json=DEMO_RECORD, headers=p.auth("dealer", "D002"))
            assert r.status_code == 201, r.text

            task_id = await p.first_task("D001")
            r = await p.scheduler.post(
                f"/v1/tasks/{task_id}/complete",
                headers=p.auth("dealer", "D001"),
                json={"outcome": "within_1_month", "info_verified": True},
            )
            assert r.status_code == 200, r.text
            assert await eventually(lambda: _balance_is(p, "D002", 200))

            # The attack: made-up VINs, a vehicle held by a third dealer, a future date, all refused at once.
            now = datetime.now(UTC)
            d002 = p.auth("dealer", "D002")
            r = await p.router.post(
                "/v1/sales", headers=d002, json=_sale(now + timedelta(days=1), INVENTED, BAD_CHECK_DIGIT, V3)
            )
            assert r.status_code == 422, r.text
            assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
                ("/vehicles/0/vin", "unknown_vin"),
                ("/vehicles/1/vin", "invalid_vin"),
                ("/vehicles/2/vin", "vin_not_held"),
                ("/sold_at", "invalid_sold_at"),
            ]
            r = await p.router.post("/v1/sales", headers=d002, json=_sale(now - timedelta(days=1), V1))
            assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "invalid_sold_at")

            # A real supplied sale waits for the supplier; the free-text "tractor" does not set the amount.
            r = await p.router.post("/v1/sales", headers=d002, json=_sale(datetime.now(UTC), V1))
            assert r.status_code == 201, r.text
            sale = r.json()
            assert (sale["status"], sale["awaiting_confirmation_by"]) == ("pending_confirmation", "D001")
            assert [(x["kind"], x["amount_fen"], x["product_line"], x["pending_on"]) for x in sale["rewards"]] == [
                ("profit_guarantee", 150000, "dump", ["sale_confirmation", "record_verification"])
            ]
            r = await p.router.get("/v1/sales?status=pending_confirmation", headers=p.auth("dealer", "D001"))
            assert [s["sale_id"] for s in r.json()["items"]] == [sale["sale_id"]]
            for other in ("D002", "D003"):
                r = await p.router.get("/v1/sales?status=pending_confirmation", headers=p.auth("dealer", other))
                assert r.json()["items"] == []
            await asyncio.sleep(1.0)
            assert await _entries(p, "D002") == [("info_fee", 200, None)]  # nothing before confirmation
            r = await p.router.post(f"/v1/sales/{sale['sale_id']}/confirm", headers=d002)
            assert (r.status_code, r.json()["code"]) == (403, "not_confirmer")
            r = await p.router.post(f"/v1/sales/{sale['sale_id']}/confirm", headers=p.auth("dealer", "D003"))
            assert r.status_code == 404
            r = await p.router.post(f"/v1/sales/{sale['sale_id']}/confirm", headers=p.auth("dealer", "D001"))
            assert (r.status_code, r.json()["status"]) == (200, "attributed"), r.text
            r = await p.router.post(f"/v1/sales/{sale['sale_id']}/confirm", headers=p.auth("dealer", "D001"))
            assert (r.status_code, r.json()["code"]) == (409, "sale_not_pending")
            assert await eventually(lambda: _balance_is(p, "D002", 200 + 150000))

            # A second supplied sale (more than the record's one intended vehicle: HQ decides) is rejected.
            r = await p.router.post("/v1/sales", headers=d002, json=_sale(datetime.now(UTC), V2))
            second = r.json()
            assert (r.status_code, second["awaiting_confirmation_by"]) == (201, "hq"), r.text
            r = await p.router.post(f"/v1/sales/{second['sale_id']}/reject", headers=p.auth("dealer", "D001"))
            assert r.status_code == 403
            r = await p.router.post(f"/v1/sales/{second['sale_id']}/reject", headers=p.auth("hq_admin"))
            assert (r.status_code, r.json()["status"], r.json()["rewards"]) == (200, "rejected", [])
            await asyncio.sleep(1.5)
            assert await _entries(p, "D002") == [("info_fee", 200, None), ("profit_guarantee", 150000, V1)]
            assert await _balance(p, "D002") == 200 + 150000

    async def test_sales_and_protection_lookups_are_rate_limited_per_caller(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            limiters = router_state(p.apps["router"].state.runtime).limiters
            limiters["sales_limiter"] = RateLimiter(per_minute=1, burst=2)
            limiters["lookup_limiter"] = RateLimiter(per_minute=1, burst=2)
            for path, body in (
                ("/v1/sales", _sale(datetime.now(UTC), INVENTED)),
                ("/v1/customers/protection-lookup", {"phone": "13800138000"}),
            ):
                codes = [
                    (await p.router.post(path, json=body, headers=p.auth("dealer", "D002"))).status_code
                    for _ in range(3)
                ]
                assert codes[:2] != [429, 429] and codes[2] == 429, (path, codes)
                r = await p.router.post(path, json=body, headers=p.auth("dealer", "D002"))
                assert r.json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
                r = await p.router.post(path, json=body, headers=p.auth("dealer", "D003"))  # per caller
                assert r.status_code != 429


async def _balance_is(p: Pipeline, dealer: str, expected: int) -> bool:
    return await _balance(p, dealer) == expected
