"""The router through the real pipeline (intake -> Kafka -> router): privacy of every read, masked public topics,
logs without phone numbers, protection lookup and expiry, sales with Idempotency-Key, withdrawal."""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dedup_router.vin import with_check_digit
from leadnet_shared.clock import FrozenClock, SystemClock
from leadnet_shared.events import TOPICS, Envelope
from leadnet_shared.testing import Infra, eventually
from tests.fixtures import DEALERS_WITH_DUMPS, ZHANG, lead_record, registry_vehicle
from tests.pipeline import Pipeline, pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
RETAIL = {**ZHANG, "tier": "retail"}
BIG = {
    "name": "欧阳明远",
    "phone": "139 0013 9000",
    "address": "山东省潍坊市诸城市龙都街道和平路66号",
    "region_code": "370782",
    "tier": "gold_silver",
}
HQ_ONLY = {
    "name": "赵六顺",
    "phone": "137 0013 7000",
    "address": "河南省郑州市中原区建设路99号",
    "region_code": "410102",
    "tier": "retail",
}
# What must never reach another dealer, a public topic or a log: the digits and the personal words.
V1, V2, V3 = (with_check_digit(f"LRDS6PEB0KR00000{i}") for i in (1, 2, 3))
SECRETS = [
    "00138000",
    "00139000",
    "00137000",
    "13800138000",
    "13900139000",
    "张三丰",
    "欧阳明远",
    "赵六顺",
    "幸福路",
    "和平路",
    "建设路",
    "密州街道",
    "龙都街道",
]


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


async def _public_events(p: Pipeline) -> list[Envelope]:
    messages = await p.read_until_quiet(*(t.name for t in TOPICS if t.public))
    return [Envelope.from_bytes(m.value) for m in messages if m.value is not None]  # not tombstones


async def _submit(p: Pipeline, customer: dict[str, Any], *, role: str, dealer: str | None) -> dict[str, Any]:
    body = lead_record(customer, bare=True)
    if dealer is None:
        body["source"] = "hq"
    r = await p.intake.post("/v1/leads", json=body, headers=p.auth(role, dealer))
    assert r.status_code == 201, r.text
    return dict(r.json())


class TestPrivacyProtectionSalesWithdrawal:
    async def test_the_router_end_to_end_without_leaks(self, infra: Infra, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO)
        clock = FrozenClock(T0)
        async with pipeline(infra, clock=clock, scheduler_clock=SystemClock()) as p:
            await p.register_dealers(*DEALERS_WITH_DUMPS)  # and wait until intake and the scheduler know them
            registered = await p.register_vehicles(
                *(registry_vehicle(v, holder) for v, holder in ((V1, "D001"), (V2, "D001"), (V3, "D002")))
            )
            assert registered == {"created": 3, "updated": 0}

            retail = await _submit(p, RETAIL, role="dealer", dealer="D002")  # cross-region retail -> D001
            assert (retail["assigned_dealer"], retail["cross_region"]) == ("D001", True)
            big = await _submit(p, BIG, role="dealer", dealer="D002")  # cross-region big -> D002 for a month
            assert big["assigned_dealer"] == "D002" and big["authorized_dealer"] == "D001"
            until = datetime.fromisoformat(big["protection_until"])
            assert until == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # one calendar month, Shanghai wall time
            queued = await _submit(p, HQ_ONLY, role="hq_admin", dealer=None)  # nobody in Zhengzhou
            assert queued["assigned_dealer"] is None
            dup = await _submit(p, {**RETAIL, "phone": "13800138001", "name": "张三风"}, role="dealer", dealer="D001")
            assert [w["code"] for w in dup["warnings"]] == ["possible_duplicate"]
            # Same name in pinyin (三丰/三风) in the same county and the same fleet (2 x EST 6) in the same city.
            assert dup["warnings"][0]["matched"] == ["name_county", "fleet_city"]
            assert dup["warnings"][0]["strength"] == 1.0

            # Protection lookup: a dealer the customer is not with learns nothing, the same answer as for a phone
            # that is no customer (no oracle); the protecting dealer and HQ learn until when.
            lookup = {"phone": "+86 139-0013-9000"}
            r = await p.router.post("/v1/customers/protection-lookup", json=lookup, headers=p.auth("dealer", "D003"))
            undisclosed = r.json()
            assert (undisclosed["protected"], undisclosed["protected_by"], undisclosed["disclosed"]) == (
                False,
                None,
                False,
            )
            for phone in ("13800138000", "13500135000"):  # another dealer's customer; no customer at all
                r = await p.router.post(
                    "/v1/customers/protection-lookup", json={"phone": phone}, headers=p.auth("dealer", "D003")
                )
                assert r.json() == undisclosed
            r = await p.router.post("/v1/customers/protection-lookup", json=lookup, headers=p.auth("dealer", "D002"))
            assert r.json()["protected_by_you"] is True and r.json()["disclosed"] is True
            assert datetime.fromisoformat(r.json()["protection_until"]) == until
            r = await p.router.post("/v1/customers/protection-lookup", json=lookup, headers=p.auth("hq_analyst"))
            assert (r.json()["protected"], r.json()["protected_by"]) == (True, "D002")
            r = await p.router.post(
                "/v1/customers/protection-lookup", json={"phone": "12345"}, headers=p.auth("dealer", "D003")
            )
            assert r.status_code == 422 and r.json()["errors"][0]["code"] == "invalid_phone"

            # Sales: D001 (authorized) sells to the retail customer D002 entered: 100 CNY to D002, once.
            # (sold_at: the router's clock stands at the records' entry; a sale may not be dated later than now.)
            sale_body = {
                "customer_phone": "138-0013-8000",
                "sold_at": "2026-11-02T10:00:00+08:00",
                "vehicles": [{"vin": V1, "model": "EST 6", "product_line": "tractor"}],
            }
            headers = {**p.auth("dealer", "D001"), "Idempotency-Key": "sale-1"}
            r = await p.router.post("/v1/sales", json=sale_body, headers=headers)
            assert r.status_code == 201, r.text
            sale = r.json()
            assert (sale["attributed_lead_id"], sale["credited_dealer"], sale["violation"]) == (
                retail["lead_id"],
                "D001",
                None,
            )
            assert [(x["kind"], x["dealer"], x["amount_fen"]) for x in sale["rewards"]] == [
                ("purchase_reward", "D002", 10000)
            ]
            replay = await p.router.post("/v1/sales", json=sale_body, headers=headers)
            assert (replay.status_code, replay.json()) == (201, sale)
            other = copy.deepcopy(sale_body)
            other["vehicles"][0]["vin"] = V2
            r = await p.router.post("/v1/sales", json=other, headers=headers)
            assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused")
            r = await p.router.post("/v1/sales", json=sale_body, headers=p.auth("dealer", "D001"))
            assert (r.status_code, r.json()["code"], r.json()["vins"]) == (409, "vin_already_sold", [V1])
            r = await p.router.post("/v1/sales", json=other, headers=p.auth("dealer", "D001"))
            assert r.status_code == 201 and r.json()["rewards"] == []  # once per lead, not per vehicle or sale
            r = await p.router.post(
                "/v1/sales", json={**sale_body, "customer_phone": "13600136000"}, headers=p.auth("dealer", "D001")
            )
            assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "unknown_customer")
            # The entrant sells the big customer itself inside its month: exempt, volume to D001.
            big_sale = {
                "customer_phone": "13900139000",
                "sold_at": "2026-11-02T10:00:00+08:00",
                "vehicles": [{"vin": V3, "product_line": "tractor"}],
            }
            r = await p.router.post("/v1/sales", json=big_sale, headers=p.auth("dealer", "D002"))
            assert r.status_code == 201, r.text
            assert (r.json()["cross_region_exempt"], r.json()["credited_dealer"], r.json()["violation"]) == (
                True,
                "D001",
                None,
            )
            big_sale_id = r.json()["sale_id"]
            # Cancel frees the VIN.
            r = await p.router.post(f"/v1/sales/{sale['sale_id']}/cancel", headers=p.auth("dealer", "D001"))
            assert r.status_code == 403
            r = await p.router.post(f"/v1/sales/{sale['sale_id']}/cancel", headers=p.auth("hq_admin"))
            assert r.status_code == 200 and r.json()["status"] == "cancelled"
            r = await p.router.post("/v1/sales", json=sale_body, headers=p.auth("dealer", "D001"))
            assert r.status_code == 201

            # Every read endpoint with another dealer's token: 404 or empty, and no personal data anywhere.
            d003 = p.auth("dealer", "D003")
            ids = [retail["customer_id"], big["customer_id"], queued["customer_id"], dup["customer_id"]]
            bodies: list[str] = []
            for cid in ids:
                r = await p.router.get(f"/v1/customers/{cid}", headers=d003)
                assert r.status_code == 404 and r.json()["code"] == "not_found"
                bodies.append(r.text)
            for query in ("", "?assigned_dealer=D001", "?assigned_dealer=D002", "?queue=hq", "?limit=500"):
                r = await p.router.get(f"/v1/customers{query}", headers=d003)
                assert r.status_code == 200 and r.json()["items"] == [], query
                bodies.append(r.text)
            for path in ("/v1/dealers/D001", f"/v1/sales/{sale['sale_id']}", f"/v1/sales/{big_sale_id}"):
                r = await p.router.get(path, headers=d003)
                assert r.status_code == 404, path
                bodies.append(r.text)
            r = await p.router.post("/v1/customers/protection-lookup", json=lookup, headers=d003)
            bodies.append(r.text)
            assert all(not _leaks(b) for b in bodies), [(_leaks(b), b) for b in bodies if _leaks(b)]

            # The entering dealer sees what it entered, masked unless assigned to it; HQ per role.
            d002 = p.auth("dealer", "D002")
            r = await p.router.get(f"/v1/customers/{retail['customer_id']}", headers=d002)
            assert r.status_code == 200 and r.json()["masked"] is True and r.json()["phone"] == "138****8000"
            assert r.json()["name"] == "张*" and not _leaks(r.text)
            r = await p.router.get(f"/v1/customers/{big['customer_id']}", headers=d002)
            assert r.json()["masked"] is False and r.json()["phone"] == "+8613900139000"
            r = await p.router.get("/v1/customers", headers=d002)
            assert sorted(c["customer_id"] for c in r.json()["items"]) == sorted(
                [retail["customer_id"], big["customer_id"]]
            )
            r = await p.router.get("/v1/customers?queue=hq", headers=p.auth("hq_analyst"))
            assert [c["customer_id"] for c in r.json()["items"]] == [queued["customer_id"]]
            assert r.json()["items"][0]["phone"] == "137****7000" and not _leaks(r.text)
            r = await p.router.get(f"/v1/customers/{queued['customer_id']}", headers=p.auth("hq_admin"))
            assert r.json()["masked"] is False and r.json()["name"] == "赵六顺"

            # The protection ends on time: the worker moves the customer and its open lead to D001.
            clock.set(until + timedelta(seconds=1))

            async def moved() -> bool:
                r = await p.router.get(f"/v1/customers/{big['customer_id']}", headers=p.auth("hq_analyst"))
                return bool(r.json()["assigned_dealer"] == "D001" and r.json()["protected_by"] is None)

            await eventually(moved)
            r = await p.router.get(f"/v1/customers/{big['customer_id']}", headers=d002)
            assert r.json()["masked"] is True  # no longer assigned to D002: masked from now on

            # Withdrawal: dry run first (nothing changes), then for real.
            r = await p.router.post("/v1/dealers/D001/withdraw?dry_run=true", headers=p.auth("hq_admin"))
            assert r.status_code == 200 and r.json()["dry_run"] is True
            plan = r.json()
            r = await p.router.get("/v1/dealers/D001", headers=p.auth("hq_analyst"))
            assert r.json()["status"] == "active"
            r = await p.router.post("/v1/dealers/D001/withdraw", headers=p.auth("dealer", "D001"))
            assert r.status_code == 403
            r = await p.router.post("/v1/dealers/D001/withdraw", headers=p.auth("hq_admin"))
            assert r.status_code == 200
            assert (r.json()["reassigned"], r.json()["unplaced"]) == (plan["reassigned"], plan["unplaced"])
            assert r.json()["reassigned"] == 0 and r.json()["unplaced"] == 6  # nobody else sells in Weifang
            r = await p.router.get("/v1/customers?queue=hq", headers=p.auth("hq_admin"))
            assert len(r.json()["items"]) == 4

            await asyncio.sleep(0.5)
            events = await _public_events(p)
        types = {e.type for e in events}
        assert {
            "leadnet.lead.accepted",
            "leadnet.customer.upserted",
            "leadnet.lead.reassigned",
            "leadnet.dealer.withdrawn",
            "leadnet.sale.attributed",
            "leadnet.sale.cancelled",
        } <= types
        leaking = [(e.type, _leaks(e.model_dump_json())) for e in events if _leaks(e.model_dump_json())]
        assert leaking == []
        reasons = {e.data["reason"] for e in events if e.type == "leadnet.lead.reassigned"}
        assert reasons == {"protection_expired", "dealer_withdrawn"}
        upserted = [e for e in events if e.type == "leadnet.customer.upserted"]
        assert all(re.fullmatch(r"1\d\d\*{4}\d{4}", e.data["customer"]["phone"]) for e in upserted)
        router_logs = [r for r in caplog.records if r.name.startswith(("dedup_router", "leadnet_shared"))]
        assert router_logs  # the router did log (protection end, withdrawal)
        logged = [r.getMessage() + " " + repr(r.__dict__) for r in caplog.records]
        assert [m for m in logged if _leaks(m)] == []
