"""The public topics carry what an HQ dashboard and dealers' webhooks need (issue 20 item 1), masked, through the four
services on real PostgreSQL and Kafka: a duplicate's refusal says region, line, tier and who holds the lead; a record
intake refused leaves `lead.refused` with codes and pointers only; a sale waiting for its supplier is announced,
its confirmation and a rejection too, each with the customer's region; every ledger entry says customer, region,
line and entrant, keyed by the customer so that its money events keep their order on the customer's partition.
The pipeline's own scan (tests/pipeline.py) then finds no phone or street on any public topic."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from dedup_router.vin import with_check_digit
from leadnet.demo import DEMO_RECORD
from leadnet_shared.events import LEADS, LEDGER, SALES, Envelope
from leadnet_shared.redaction import find_personal_data
from leadnet_shared.testing import Infra, eventually
from tests.fixtures import DEALERS_WITH_DUMPS, registry_vehicle
from tests.pipeline import Pipeline, pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

V1, V2 = (with_check_digit(f"LFWSRXRJ0N2{i:06d}") for i in (1, 2))
PHONE_DIGITS = "13800138000"  # DEMO_RECORD's phone, normalized
ADCODE = re.compile(r"^[1-8][0-9]{5}$")


class Message:
    def __init__(self, partition: int, key: str | None, envelope: Envelope) -> None:
        self.partition, self.key, self.envelope = partition, key, envelope
        self.data: dict[str, Any] = envelope.data


async def _topic(p: Pipeline, topic: str) -> list[Message]:
    """Every event on one of this pipeline's topics, in order per partition (read up to the end offsets)."""
    return [
        Message(m.partition, m.key.decode() if m.key else None, Envelope.from_bytes(m.value))
        for m in await p.read_to_end(topic)
        if m.value
    ]


async def _wait_for(p: Pipeline, topic: str, match: Callable[[Message], bool], count: int = 1) -> list[Message]:
    """The topic's events that `match`, once there are `count` of them (the relays publish within a second)."""
    found: list[Message] = []

    async def there() -> bool:
        nonlocal found
        found = [m for m in await _topic(p, topic) if match(m)]
        return len(found) >= count

    await eventually(there, within=30)
    return found


def _of_type(event_type: str, **fields: Any) -> Callable[[Message], bool]:
    return lambda m: m.envelope.type == event_type and all(m.data.get(k) == v for k, v in fields.items())


def _clean(message: Message) -> None:
    """No phone (whole or partly masked digits), no name, no street in an event a dashboard reads."""
    text = orjson.dumps(message.data, option=orjson.OPT_NON_STR_KEYS).decode()
    assert find_personal_data(text) == [] and PHONE_DIGITS not in text, text
    assert DEMO_RECORD["customer"]["name"] not in text and "customer" not in message.data, text


async def _decided(p: Pipeline, sale_id: str, decision: str, headers: dict[str, str], event_type: str) -> Message:
    """`POST /v1/sales/{sale_id}/{decision}` (confirm, reject, cancel); the sale event that announces it."""
    r = await p.router.post(f"/v1/sales/{sale_id}/{decision}", headers=headers)
    assert r.status_code == 200, r.text
    [announced] = await _wait_for(p, SALES, _of_type(event_type, sale_id=sale_id))
    return announced


def _sale(*vins: str, supplied_by: str) -> dict[str, Any]:
    return {
        "customer_phone": DEMO_RECORD["customer"]["phone"],
        "sold_at": datetime.now(UTC).isoformat(),
        "supplied_by": supplied_by,
        "vehicles": [{"vin": v} for v in vins],
    }


class TestDashboardEvents:
    async def test_public_events_carry_region_line_tier_and_parties_masked_and_money_keeps_the_customers_order(
        self, infra: Infra
    ) -> None:
        async with pipeline(infra) as p:
            await p.register_dealers(*DEALERS_WITH_DUMPS)
            hq, d001, d002 = p.auth("hq_admin"), p.auth("dealer", "D001"), p.auth("dealer", "D002")
            await p.register_vehicles(registry_vehicle(V1, "D001", "dump"), registry_vehicle(V2, "D001"))

            # D002 (Jinan) enters a Weifang record: routed to D001. Entered again: refused as its own duplicate.
            r = await p.intake.post("/v1/leads", json=DEMO_RECORD, headers=d002)
            assert r.status_code == 201, r.text
            lead = r.json()
            assert lead["assigned_dealer"] == "D001"
            r = await p.intake.post("/v1/leads", json=DEMO_RECORD, headers=d002)
            assert r.status_code == 409, r.text
            [rejected] = await _wait_for(p, LEADS, _of_type("leadnet.lead.rejected", entered_by="D002"))
            assert rejected.key == lead["customer_id"]
            d = rejected.data
            assert (d["existing_lead_id"], d["assigned_dealer"], d["tier"], d["product_line"], d["source"]) == (
                lead["lead_id"],
                "D001",
                "retail",
                "tractor",
                DEMO_RECORD["source"],
            )
            assert ADCODE.match(d["region_code"]) and d["region_code"].startswith("3707"), d
            _clean(rejected)

            # Refused at intake: a single record (a phone typed as a field name, a bad phone) and a batch's record.
            bad = {
                **DEMO_RECORD,
                "network_code": PHONE_DIGITS,
                "customer": {**DEMO_RECORD["customer"], "phone": "12", PHONE_DIGITS: "张三"},
            }
            r = await p.intake.post("/v1/leads", json=bad, headers=d002)
            assert r.status_code == 422, r.text
            pointers = sorted(e["field"] for e in r.json()["errors"])
            r = await p.intake.post(
                "/v1/leads/batch",
                json={"records": [{"source": "walk_in", "network_code": "NET-SD-0007"}]},
                headers=d002,
            )
            assert r.status_code == 200 and r.json()["results"][0]["status"] == 422, r.text
            refused = await _wait_for(p, LEADS, _of_type("leadnet.lead.refused", entered_by="D002"), count=2)
            by_channel = {m.data["channel"]: m for m in refused}
            single, batch = by_channel["single"], by_channel["batch"]
            assert (single.key, single.data["status"], single.data["source"]) == ("D002", 422, "walk_in")
            assert single.data["network_code"] is None, "a phone-shaped network code never reaches the topic"
            assert (single.data["tier"], single.data["product_line"]) == ("retail", "tractor"), single.data
            assert single.data["problems_total"] == len(pointers)
            fields = sorted(x["field"] for x in single.data["problems"])
            assert "/customer/phone" in fields and "/customer/*" in fields, fields
            assert {x["code"] for x in single.data["problems"]} >= {"invalid_phone"}
            assert (batch.data["batch_index"], batch.data["network_code"], batch.data["source"]) == (
                0,
                "NET-SD-0007",
                "walk_in",
            )
            assert batch.data["problems"] and batch.data["problems_total"] >= len(batch.data["problems"])
            for m in refused:
                _clean(m)
                assert "张三" not in orjson.dumps(m.data).decode()

            # D001 verifies the record on its callback: the info fee says customer, region, line and entrant.
            task_id = await p.first_task("D001")
            r = await p.scheduler.post(
                f"/v1/tasks/{task_id}/complete",
                headers=d001,
                json={"outcome": "within_1_month", "info_verified": True},
            )
            assert r.status_code == 200, r.text

            # A sale from D001's stock: pending until D001 confirms; announced with the customer's region.
            r = await p.router.post("/v1/sales", headers=d002, json=_sale(V1, supplied_by="D001"))
            assert r.status_code == 201 and r.json()["status"] == "pending_confirmation", r.text
            sale_id = r.json()["sale_id"]
            [pending] = await _wait_for(p, SALES, _of_type("leadnet.sale.pending_confirmation", sale_id=sale_id))
            d = pending.data
            assert (d["seller"], d["supplied_by"], d["confirmer"], d["customer_id"]) == (
                "D002",
                "D001",
                "D001",
                lead["customer_id"],
            )
            assert (d["product_line"], d["vehicle_count"], d["region_code"]) == (
                "dump",
                1,
                rejected.data["region_code"],
            )
            assert pending.key == lead["customer_id"]
            attributed = await _decided(p, sale_id, "confirm", d001, "leadnet.sale.attributed")
            assert (attributed.data["region_code"], attributed.data["confirmed_by"]) == (d["region_code"], "D001")
            assert attributed.data["confirmed_at"] is not None

            # A second sale (more vehicles than the record intends: HQ decides), rejected by HQ.
            r = await p.router.post("/v1/sales", headers=d002, json=_sale(V2, supplied_by="D001"))
            assert r.status_code == 201 and r.json()["awaiting_confirmation_by"] == "hq", r.text
            second = r.json()["sale_id"]
            rejected_sale = await _decided(p, second, "reject", hq, "leadnet.sale.rejected")
            assert (rejected_sale.data["rejected_by"], rejected_sale.data["vehicle_count"]) == ("hq", 1)
            assert rejected_sale.data["region_code"] == d["region_code"]

            # V2 sold again, cancelled by HQ while it waits: the dashboard closes it, the ledger has nothing to reverse.
            r = await p.router.post("/v1/sales", headers=d002, json=_sale(V2, supplied_by="D001"))
            assert r.status_code == 201 and r.json()["status"] == "pending_confirmation", r.text
            third = r.json()["sale_id"]
            cancelled = await _decided(p, third, "cancel", hq, "leadnet.sale.cancelled")
            assert cancelled.data["was_pending"] is True

            # HQ cancels the confirmed sale: the ledger reverses its guarantee.
            r = await p.router.post(f"/v1/sales/{sale_id}/cancel", headers=hq)
            assert r.status_code == 200, r.text
            entries = await _wait_for(
                p, LEDGER, _of_type("leadnet.ledger.entry_posted", customer_id=lead["customer_id"]), count=3
            )
            assert [e.data["kind"] for e in entries] == ["info_fee", "profit_guarantee", "reversal"]
            for e in entries:
                assert e.key == lead["customer_id"] and e.envelope.subject == "D002"
                assert (e.data["region_code"], e.data["entered_by"]) == (d["region_code"], "D002")
                _clean(e)
            assert [e.data["product_line"] for e in entries] == ["tractor", "dump", "dump"]

            # One customer, one partition: its lead, sale and money events share the partition number (same key,
            # same partition count), so a reader joining them per partition sees them in the order they happened.
            leads = [m for m in await _topic(p, LEADS) if m.key == lead["customer_id"]]
            sales = [m for m in await _topic(p, SALES) if m.key == lead["customer_id"]]
            assert {m.partition for m in leads + sales + entries} == {entries[0].partition}
            for m in sales:
                _clean(m)
