"""One customer record through all four services on real PostgreSQL and Kafka (the foundation's happy path)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from leadnet.demo import DEMO_RECORD
from leadnet_shared.testing import Infra, eventually
from tests.fixtures import JINAN_WITH_LEVEL, WEIFANG_WITH_LEVEL
from tests.pipeline import pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

RECORD: dict[str, Any] = DEMO_RECORD  # the example record of contract.md

DEALERS = [WEIFANG_WITH_LEVEL, JINAN_WITH_LEVEL]


class TestOneRecordThroughTheWholePipeline:
    async def test_cross_region_retail_record_is_routed_scheduled_verified_and_paid(self, any_broker: Infra) -> None:
        async with pipeline(any_broker) as p:
            await p.register_dealers(*DEALERS)  # and wait until intake and the scheduler know them

            # D002 (Jinan) enters a retail customer of Zhucheng (370782, Weifang): cross-region, goes to D001.
            r = await p.intake.post("/v1/leads", json=RECORD, headers=p.auth("dealer", "D002"))
            assert r.status_code == 201, r.text
            verdict = r.json()
            assert verdict["status"] == "accepted"
            assert verdict["entered_by"] == "D002"
            assert verdict["assigned_dealer"] == "D001"
            assert verdict["authorized_dealer"] == "D001"
            assert verdict["cross_region"] is True
            assert verdict["customer_existed"] is False
            assert verdict["protection_until"] is None

            # The same dealer entering the same customer again: a duplicate, nothing saved.
            again = copy.deepcopy(RECORD)
            again["customer"]["phone"] = "+86 138-0013-8000"
            r = await p.intake.post("/v1/leads", json=again, headers=p.auth("dealer", "D002"))
            assert r.status_code == 409, r.text
            assert r.json()["code"] == "duplicate_lead"
            assert r.json()["existing_lead_id"] == verdict["lead_id"]

            # The scheduler plans the first step from the timing tables: within 2 weeks, retail -> promotion.
            async def d001_tasks() -> list[dict[str, Any]]:
                resp = await p.scheduler.get("/v1/tasks", headers=p.auth("dealer", "D001"))
                return list(resp.json()["items"])

            tasks = await eventually(d001_tasks)
            assert len(tasks) == 1
            assert tasks[0]["lead_id"] == verdict["lead_id"]
            assert tasks[0]["kind"] == "promotion"
            r = await p.scheduler.get("/v1/tasks", headers=p.auth("dealer", "D002"))
            assert r.json()["items"] == []  # another dealer's work is not visible

            r = await p.scheduler.post(
                f"/v1/tasks/{tasks[0]['task_id']}/complete",
                json={"outcome": "within_1_month", "info_verified": True},
                headers=p.auth("dealer", "D001"),
            )
            assert r.status_code == 200, r.text

            # The ledger pays the entering dealer the 200-fen information fee, once.
            async def d002_balance() -> int:
                resp = await p.ledger.get("/v1/ledger/accounts/D002", headers=p.auth("dealer", "D002"))
                return int(resp.json()["balance_fen"])

            assert await eventually(d002_balance) == 200
            r = await p.ledger.get("/v1/ledger/entries?dealer=D002", headers=p.auth("hq_analyst"))
            entries = r.json()["items"]
            assert [(e["kind"], e["amount_fen"], e["lead_id"]) for e in entries] == [
                ("info_fee", 200, verdict["lead_id"])
            ]
            r = await p.ledger.get("/v1/ledger/accounts/D001", headers=p.auth("dealer", "D001"))
            assert r.json()["balance_fen"] == 0
            r = await p.ledger.get("/v1/ledger/accounts/D001", headers=p.auth("dealer", "D002"))
            assert r.status_code == 404


class TestProblemDetails:
    async def test_malformed_json_unknown_route_and_missing_token(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await p.register_dealers("D002")  # only registered dealers write
            r = await p.intake.post("/v1/leads", content=b'{"source": ', headers=p.auth("dealer", "D002"))
            assert r.status_code == 400
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "malformed_json"
            r = await p.intake.get("/v1/nothing-here", headers=p.auth("dealer", "D002"))
            assert r.status_code == 404
            assert r.json()["code"] == "not_found"
            r = await p.intake.post("/v1/leads", json=RECORD)
            assert r.status_code == 401
            assert r.json()["code"] == "unauthenticated"
            r = await p.intake.post("/v1/leads", json=RECORD, headers=p.auth("hq_analyst"))
            assert r.status_code == 403
            assert r.json()["code"] == "forbidden"
