"""A PIPL erasure through the real pipeline (intake -> Kafka -> router -> scheduler, ledger): HQ erases a customer
and every service forgets the person, the compacted customers topic ends in a tombstone that no consumer
dead-letters, the ledger's history stands, and the number can be entered again as a new customer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from dedup_router.vin import with_check_digit
from leadnet_shared.clock import FrozenClock, SystemClock
from leadnet_shared.events import CUSTOMERS, TOPICS, Envelope
from leadnet_shared.testing import Infra, eventually
from tests.fixtures import JINAN, WEIFANG, ZHANG, lead_record, registry_vehicle
from tests.pipeline import Pipeline, pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
CUSTOMER = ZHANG
VIN = with_check_digit("LRDS6PEB0KR000001")
# The person: none of these may remain anywhere the services keep the erased customer's records.
SECRETS = ("13800138000", "00138000", "张三丰", "三丰", "幸福路", "密州街道")
NOTES = "张三丰说下个月再联系, 电话 13800138000"


def _record() -> dict[str, Any]:
    return lead_record(CUSTOMER, bare=True)


def _leaks(value: object) -> list[str]:
    return [s for s in SECRETS if s in str(value)]


async def _topic(p: Pipeline, topic: str) -> list[tuple[str | None, bytes | None]]:
    """Every (key, value) on a topic of this pipeline, in order per partition."""
    return [(m.key.decode() if m.key else None, m.value) for m in await p.read_until_quiet(topic)]


class TestErasure:
    async def test_an_erased_customer_is_forgotten_everywhere_but_the_ledger(self, infra: Infra) -> None:
        clock = FrozenClock(T0)
        async with pipeline(infra, clock=clock, scheduler_clock=SystemClock()) as p:
            await p.register_dealers(WEIFANG, JINAN)
            await p.register_vehicles(registry_vehicle(VIN))

            # D002 enters a cross-region retail record: routed to D001; D001 sells to the customer, which pays D002.
            r = await p.intake.post("/v1/leads", json=_record(), headers=p.auth("dealer", "D002"))
            assert r.status_code == 201, r.text
            lead = r.json()
            customer_id, lead_id = lead["customer_id"], lead["lead_id"]

            # The scheduler follows the lead; D001's callback verifies the record, and staff type the person's
            # name and number into the task's notes (security review: notes collect personal data).
            async def tasks() -> list[Any]:
                return await p.rows("scheduler", "SELECT task_id FROM tasks WHERE customer_id = :c", c=customer_id)

            (task_id,) = (await eventually(tasks))[0]
            r = await p.scheduler.post(
                f"/v1/tasks/{task_id}/complete",
                json={"outcome": "within_6_months", "info_verified": True, "notes": NOTES},
                headers=p.auth("dealer", "D001"),
            )
            assert r.status_code == 200, r.text
            open_before = await p.rows(
                "scheduler", "SELECT count(*) FROM tasks WHERE customer_id = :c AND status = 'open'", c=customer_id
            )
            assert open_before[0][0] == 1  # the next callback
            clock.advance(3600)
            r = await p.router.post(
                "/v1/sales",
                json={
                    "customer_phone": "13800138000",
                    "sold_at": "2026-11-02T10:30:00+08:00",
                    "vehicles": [{"vin": VIN, "model": "EST 6", "product_line": "tractor"}],
                },
                headers=p.auth("dealer", "D001"),
            )
            assert r.status_code == 201, r.text

            ledger_sql = (
                "SELECT entry_id, kind, dealer, amount_fen, lead_id, customer_id, sale_id, vin FROM postings "
                "WHERE customer_id = :c ORDER BY seq"
            )

            async def ledger_entries() -> list[Any]:
                return await p.rows("ledger", ledger_sql, c=customer_id)

            async def both_entries() -> list[Any]:
                found = await ledger_entries()
                return found if len(found) == 2 else []

            entries = await eventually(both_entries)
            assert sorted((e.kind, e.dealer, e.amount_fen) for e in entries) == [
                ("info_fee", "D002", 200),
                ("purchase_reward", "D002", 10000),
            ]

            # HQ corrects the address first: the customer file then holds the old and the new one, unmasked.
            r = await p.router.patch(
                f"/v1/customers/{customer_id}",
                json={"address": "山东省潍坊市诸城市密州街道幸福路20号"},
                headers=p.auth("hq_admin"),
            )
            assert r.status_code == 200, r.text
            file_sql = "SELECT * FROM {} WHERE customer_id = :c"
            assert _leaks(await p.rows("router", file_sql.format("customer_changes"), c=customer_id))

            # Only hq_admin may erase; an unknown id is a problem+json 404.
            for role, dealer in (("dealer", "D001"), ("hq_analyst", None)):
                r = await p.router.delete(f"/v1/customers/{customer_id}", headers=p.auth(role, dealer))
                assert r.status_code == 403, r.text
            r = await p.router.delete("/v1/customers/no-such-customer", headers=p.auth("hq_admin"))
            assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")

            r = await p.router.delete(f"/v1/customers/{customer_id}", headers=p.auth("hq_admin"))
            assert r.status_code == 204, r.text
            r = await p.router.delete(f"/v1/customers/{customer_id}", headers=p.auth("hq_admin"))
            assert r.status_code == 204, r.text  # a repeated request is answered the same

            # Router: the customer is gone from every read; the number matches nobody.
            r = await p.router.get(f"/v1/customers/{customer_id}", headers=p.auth("hq_admin"))
            assert r.status_code == 404
            r = await p.router.get("/v1/customers", headers=p.auth("hq_admin"))
            assert customer_id not in [c["customer_id"] for c in r.json()["items"]]
            r = await p.router.post(
                "/v1/customers/protection-lookup", json={"phone": "13800138000"}, headers=p.auth("hq_admin")
            )
            assert r.json()["protected"] is False
            assert not _leaks(await p.rows("router", "SELECT * FROM customers"))
            for table in ("customer_changes", "customer_profiles"):  # the customer file goes with the customer
                assert await p.rows("router", file_sql.format(table), c=customer_id) == []
            assert await p.rows("router", "SELECT status FROM leads WHERE lead_id = :l", l=lead_id) == [("closed",)]

            # Intake: the records keep their ids and verdict, not the person.
            async def intake_forgot() -> bool:
                rows = await p.rows(
                    "intake", "SELECT raw, normalized, verdict FROM leads WHERE lead_id = :l", l=lead_id
                )
                return bool(rows) and not _leaks(rows)

            await eventually(intake_forgot)
            (raw, normalized, verdict) = (
                await p.rows("intake", "SELECT raw, normalized, verdict FROM leads WHERE lead_id = :l", l=lead_id)
            )[0]
            assert raw == {"erased": True}
            for role, dealer in (("hq_admin", None), ("dealer", "D002")):  # unmasked for HQ: nothing left to show
                r = await p.intake.get(f"/v1/leads/{lead_id}", headers=p.auth(role, dealer))
                assert r.status_code == 200 and not _leaks(r.text), r.text
                assert r.json()["record"]["customer"]["phone"] is None
            assert normalized["customer"]["region_code"] == "370782"
            assert verdict["customer_id"] == customer_id
            await p.drain_relays()
            assert not _leaks(await p.rows("intake", "SELECT payload FROM outbox"))

            # Scheduler: open work cancelled, every note cleared.
            async def scheduler_forgot() -> list[Any]:
                return await p.rows(
                    "scheduler", "SELECT status, notes FROM tasks WHERE customer_id = :c", c=customer_id
                )

            await eventually(lambda: _all_cancelled(scheduler_forgot))
            assert all(notes is None for _, notes in await scheduler_forgot())

            # The compacted customers topic: the key's last message is a tombstone; before it only masked state.
            await p.drain_relays()
            mine = [value for key, value in await _topic(p, CUSTOMERS) if key == customer_id]
            assert len(mine) >= 2 and mine[-1] is None
            assert not _leaks(mine)

            # No consumer dead-lettered anything, and the consumers that read the erasure handled it.
            await asyncio.sleep(1.0)
            for service in p.apps:
                dead = await p.rows(
                    service, "SELECT count(*) FROM outbox WHERE event_type = 'leadnet.event.dead_lettered'"
                )
                assert dead[0][0] == 0, service
                failures = await p.rows(service, "SELECT count(*) FROM consumer_failures")
                assert failures[0][0] == 0, service
            for service in ("intake", "scheduler"):
                handled = await p.rows(
                    service, "SELECT outcome FROM inbox WHERE event_type = 'leadnet.customer.erased'"
                )
                assert handled == [("processed",)], service

            # The ledger's history stands as it was.
            assert await ledger_entries() == entries

            # The number entered again is a new customer: the erased one is not brought back.
            r = await p.intake.post("/v1/leads", json=_record(), headers=p.auth("dealer", "D002"))
            assert r.status_code == 201, r.text
            assert r.json()["customer_id"] != customer_id and r.json()["customer_existed"] is False
            r = await p.router.get(f"/v1/customers/{customer_id}", headers=p.auth("hq_admin"))
            assert r.status_code == 404

            # Public topics carry no personal data of it either (the new customer's too: masked).
            await p.drain_relays()
            for spec in TOPICS:
                if spec.public:
                    values = [v for _, v in await _topic(p, spec.name) if v is not None]
                    assert not [e for e in (Envelope.from_bytes(v) for v in values) if _leaks(e.data)], spec.name


async def _all_cancelled(rows: Any) -> bool:
    found = await rows()
    return bool(found) and all(status in ("cancelled", "done") for status, _ in found)
