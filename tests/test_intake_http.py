"""lead-intake over HTTP on the real pipeline: every error code, Idempotency-Key races, batches, the 202 path,
information networks."""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from dedup_router.app import create_app as router_app
from dedup_router.settings import RouterSettings
from lead_intake.app import create_app as intake_app
from lead_intake.models import IdempotencyKey, Lead
from lead_intake.service import purge_idempotency_keys
from lead_intake.settings import IntakeSettings
from leadnet.demo import DEMO_RECORD
from leadnet_shared.testing import Infra, eventually, fresh_database, new_topic_prefix, running, service_settings
from tests.dealers import admit_dealers
from tests.fixtures import WEIFANG_WITH_LEVEL
from tests.pipeline import Pipeline, pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

RECORD: dict[str, Any] = DEMO_RECORD  # the example record of contract.md
DEALER = WEIFANG_WITH_LEVEL


def record(phone: str = "13800138000", **changes: Any) -> dict[str, Any]:
    rec = copy.deepcopy(RECORD)
    rec["customer"]["phone"] = phone
    rec.update(changes)
    return rec


def phone_of(i: int) -> str:
    return f"139{i:08d}"


async def warm_up(p: Pipeline) -> None:
    """Wait until the router answers (its consumer group has joined), so answers below are verdicts, not 202s."""
    await p.register_dealers("D999")

    async def routed() -> bool:
        r = await p.intake.post(
            "/v1/leads", json=record(phone="13999999999", source="phone_inquiry"), headers=p.auth("dealer", "D999")
        )
        return r.status_code in (201, 409)

    await eventually(routed, within=30)


async def lead_count(p: Pipeline) -> int:
    async with p.apps["intake"].state.runtime.db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Lead))).scalar_one())


class TestErrorCodes:
    async def test_each_error_code_of_a_single_record(self, infra: Infra) -> None:
        overrides = {"rate_limit_per_second": 0.01, "rate_limit_burst": 10}
        async with pipeline(infra, intake_overrides=overrides) as p:
            await p.register_dealers("D002", "D003")  # only registered dealers write
            dealer = p.auth("dealer", "D002")
            # 400 malformed_json
            r = await p.intake.post("/v1/leads", content=b'{"source": ', headers=dealer)
            assert (r.status_code, r.json()["code"]) == (400, "malformed_json")
            # 401 / 403
            assert (await p.intake.post("/v1/leads", json=RECORD)).json()["code"] == "unauthenticated"
            r = await p.intake.post("/v1/leads", json=RECORD, headers=p.auth("hq_analyst"))
            assert (r.status_code, r.json()["code"]) == (403, "forbidden")
            # 413 payload_too_large: one record over 64 KiB
            big = record(usage={**RECORD["usage"], "cargo": "煤" * 30_000})
            r = await p.intake.post("/v1/leads", json=big, headers=dealer)
            assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")
            # 422 validation_failed: every problem at once, as JSON pointers with stable codes
            bad = record(phone="12345")
            bad["usage"] = {**RECORD["usage"], "load_tons": "很多"}
            del bad["purchase_intent"]
            r = await p.intake.post("/v1/leads", json=bad, headers=dealer)
            assert r.status_code == 422
            assert r.headers["content-type"].startswith("application/problem+json")
            errors = {(e["field"], e["code"]) for e in r.json()["errors"]}
            assert ("/customer/phone", "invalid_phone") in errors
            assert ("/purchase_intent", "missing_block") in errors
            assert any(f == "/usage/load_tons" for f, _ in errors)
            # 422 unknown_field: what the system decides cannot be set
            for field, value in (("assigned_dealer", "D001"), ("status", "accepted"), ("info_fee_fen", 200)):
                r = await p.intake.post("/v1/leads", json=record(**{field: value}), headers=dealer)
                assert r.status_code == 422, field
                assert {"field": f"/{field}", "code": "unknown_field"} == {
                    k: v for k, v in r.json()["errors"][0].items() if k != "message"
                }
            # 422 for an Idempotency-Key over 200 characters: the fast lane hands it to FastAPI's header check
            r = await p.intake.post("/v1/leads", json=record(), headers={**dealer, "Idempotency-Key": "k" * 201})
            assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "/Idempotency-Key")
            assert r.json()["errors"][0]["code"] == "too_long"
            # 201, then 409 duplicate_lead with nothing saved
            first = await p.intake.post("/v1/leads", json=record(), headers=dealer)
            assert first.status_code == 201, first.text
            before = await lead_count(p)
            r = await p.intake.post("/v1/leads", json=record(phone="+86 138-0013-8000"), headers=dealer)
            assert (r.status_code, r.json()["code"]) == (409, "duplicate_lead")
            assert r.json()["existing_lead_id"] == first.json()["lead_id"]
            r = await p.intake.get(f"/v1/leads/{r.json()['lead_id']}", headers=p.auth("hq_admin"))
            assert r.json()["status"] == "rejected_duplicate"  # kept as a refused attempt, never a lead
            assert before + 1 == await lead_count(p)
            # 404 not_found: another dealer's record is not revealed
            r = await p.intake.get(f"/v1/leads/{first.json()['lead_id']}", headers=p.auth("dealer", "D009"))
            assert (r.status_code, r.json()["code"]) == (404, "not_found")
            # 429 rate_limited with Retry-After, per dealer: D002 has spent 8 of its burst of 10, D003 nothing
            statuses = [(await p.intake.post("/v1/leads", content=b"{", headers=dealer)).status_code for _ in range(6)]
            assert statuses == [400, 400, 429, 429, 429, 429]
            r = await p.intake.post("/v1/leads", content=b"{", headers=dealer)
            assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
            assert int(r.headers["Retry-After"]) >= 1
            r = await p.intake.post("/v1/leads", content=b"{", headers=p.auth("dealer", "D003"))
            assert r.status_code == 400

    async def test_batch_limits(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await p.register_dealers("D002")  # only registered dealers write
            dealer = p.auth("dealer", "D002")
            r = await p.intake.post("/v1/leads/batch", json={"records": [record()] * 1001}, headers=dealer)
            assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")
            huge = {"records": [record(usage={**RECORD["usage"], "cargo": "煤" * 20_000})] * 150}
            assert len(orjson.dumps(huge)) > 8 * 1024 * 1024
            r = await p.intake.post("/v1/leads/batch", content=orjson.dumps(huge), headers=dealer)
            assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")
            r = await p.intake.post("/v1/leads/batch", json={"records": [], "status": "x"}, headers=dealer)
            assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "unknown_field")
            r = await p.intake.post("/v1/leads/batch", json=[record()], headers=dealer)
            assert (r.status_code, r.json()["code"]) == (422, "validation_failed")
            r = await p.intake.post("/v1/leads/batch", content=b"[", headers=dealer)
            assert (r.status_code, r.json()["code"]) == (400, "malformed_json")


class TestBatch:
    async def test_one_result_per_record_in_order(self, infra: Infra) -> None:
        # The verdicts are what this tests, not the 2 s budget: a loaded machine must not turn them into "pending".
        async with pipeline(infra, intake_overrides={"wait_budget_seconds": 10}) as p:
            await p.register_dealers("D002")  # only registered dealers write
            dealer = p.auth("dealer", "D002")
            big = record(phone=phone_of(3), usage={**RECORD["usage"], "cargo": "煤" * 30_000})
            records = [
                record(phone=phone_of(0)),
                record(phone="12345"),
                record(phone=phone_of(0)),
                big,
                record(phone=phone_of(4), status="accepted"),
                record(phone=phone_of(5)),
            ]
            r = await p.intake.post("/v1/leads/batch", json={"records": records}, headers=dealer)
            assert r.status_code == 200, r.text
            results = r.json()["results"]
            assert len(results) == 6
            assert results[0]["status"] == "accepted" and results[0]["entered_by"] == "D002"
            assert (results[1]["status"], results[1]["code"]) == (422, "validation_failed")
            assert results[1]["errors"][0]["field"] == "/customer/phone"
            # The same customer twice in one batch: the router sees them in order; the second is a duplicate.
            assert (results[2]["status"], results[2]["code"]) == (409, "duplicate_lead")
            assert results[2]["existing_lead_id"] == results[0]["lead_id"]
            assert (results[3]["status"], results[3]["code"]) == (413, "payload_too_large")
            assert (results[4]["status"], results[4]["errors"][0]["code"]) == (422, "unknown_field")
            assert results[5]["status"] == "accepted"
            assert await lead_count(p) == 3  # saved: 0, 2 (as a refused duplicate attempt), 5

    async def test_a_replayed_batch_saves_nothing_again(self, infra: Infra) -> None:
        async with pipeline(infra, intake_overrides={"wait_budget_seconds": 10}) as p:
            await p.register_dealers("D002")  # only registered dealers write
            await warm_up(p)
            warm = await lead_count(p)
            dealer = {**p.auth("dealer", "D002"), "Idempotency-Key": "file-abc:batch-0"}
            body = {"records": [record(phone=phone_of(i)) for i in range(20)] + [{"source": "walk_in"}]}
            first, again = await asyncio.gather(
                p.intake.post("/v1/leads/batch", json=body, headers=dealer),
                p.intake.post("/v1/leads/batch", json=body, headers=dealer),
            )
            assert first.status_code == again.status_code == 200
            assert first.json() == again.json()
            assert [x["status"] for x in first.json()["results"]] == ["accepted"] * 20 + [422]
            assert await lead_count(p) == warm + 20
            third = await p.intake.post("/v1/leads/batch", json=body, headers=dealer)
            assert third.json() == first.json()
            body["records"].pop()
            r = await p.intake.post("/v1/leads/batch", json=body, headers=dealer)
            assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused")
            assert await lead_count(p) == warm + 20


class TestRespondAsync:
    async def test_a_batch_sent_with_prefer_respond_async_is_answered_once_saved_and_verdicts_follow(
        self, infra: Infra
    ) -> None:
        async with pipeline(infra) as p:
            await p.register_dealers("D002")  # only registered dealers write
            dealer = p.auth("dealer", "D002")
            records = [record(phone=phone_of(10 + i)) for i in range(5)] + [record(phone="12345")]
            r = await p.intake.post(
                "/v1/leads/batch", json={"records": records}, headers={**dealer, "Prefer": "respond-async"}
            )
            assert r.status_code == 200, r.text
            assert r.headers["Preference-Applied"] == "respond-async"
            results = r.json()["results"]
            assert [x["status"] for x in results] == ["pending"] * 5 + [422]  # refusals are immediate
            lead_ids = [x["lead_id"] for x in results[:5]]

            async def verdicts() -> list[dict[str, Any]] | None:
                answer = await p.intake.post("/v1/leads/verdicts", json={"lead_ids": lead_ids}, headers=dealer)
                assert answer.status_code == 200, answer.text
                got: list[dict[str, Any]] = answer.json()["results"]
                return got if all(x["status"] == "accepted" for x in got) else None

            final = await eventually(verdicts, within=30)
            assert [x["lead_id"] for x in final] == lead_ids  # in the order asked
            assert {x["entered_by"] for x in final} == {"D002"}

    async def test_verdicts_of_leads_the_caller_may_not_see_are_404(self, infra: Infra) -> None:
        async with pipeline(infra, intake_overrides={"wait_budget_seconds": 10}) as p:
            await p.register_dealers("D002")  # only registered dealers write
            await warm_up(p)
            mine = await p.intake.post("/v1/leads", json=record(phone=phone_of(20)), headers=p.auth("dealer", "D002"))
            assert mine.status_code == 201, mine.text
            lead_id = mine.json()["lead_id"]
            body = {"lead_ids": [lead_id, "no-such-lead"]}
            other = await p.intake.post("/v1/leads/verdicts", json=body, headers=p.auth("dealer", "D004"))
            assert [(x["status"], x["code"]) for x in other.json()["results"]] == [(404, "not_found")] * 2
            hq = await p.intake.post("/v1/leads/verdicts", json=body, headers=p.auth("hq_admin"))
            assert [x["status"] for x in hq.json()["results"]] == ["accepted", 404]
            bad = await p.intake.post(
                "/v1/leads/verdicts", json={"lead_ids": "x", "extra": 1}, headers=p.auth("hq_admin")
            )
            assert (bad.status_code, bad.json()["code"]) == (422, "validation_failed")
            assert {(e["field"], e["code"]) for e in bad.json()["errors"]} == {
                ("/extra", "unknown_field"),
                ("/lead_ids", "invalid_type"),
            }


class TestIdempotencyKey:
    async def test_ten_concurrent_requests_with_one_key_have_one_effect(self, infra: Infra) -> None:
        async with pipeline(infra, intake_overrides={"wait_budget_seconds": 10}) as p:
            await p.register_dealers("D002", "D003")  # only registered dealers write
            await warm_up(p)
            warm = await lead_count(p)
            headers = {**p.auth("dealer", "D002"), "Idempotency-Key": "k-1"}
            body = orjson.dumps(record())
            answers = await asyncio.gather(
                *[p.intake.post("/v1/leads", content=body, headers=headers) for _ in range(10)]
            )
            assert {a.status_code for a in answers} == {201}
            assert len({a.content for a in answers}) == 1
            assert await lead_count(p) == warm + 1
            replay = await p.intake.post("/v1/leads", content=body, headers=headers)
            # The same status and body (JSON-equal: the stored copy is JSONB, which keeps no key order).
            assert (replay.status_code, replay.json()) == (201, answers[0].json())
            r = await p.intake.post("/v1/leads", json=record(phone=phone_of(1)), headers=headers)
            assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused")
            # Keys are per caller: another dealer's same key is its own.
            other = {**p.auth("dealer", "D003"), "Idempotency-Key": "k-1"}
            r = await p.intake.post("/v1/leads", json=record(phone=phone_of(2)), headers=other)
            assert r.status_code == 201
            assert await lead_count(p) == warm + 2

    async def test_a_replayed_duplicate_answer_is_the_first_409(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await p.register_dealers("D002")  # only registered dealers write
            dealer = p.auth("dealer", "D002")
            assert (await p.intake.post("/v1/leads", json=record(), headers=dealer)).status_code == 201
            headers = {**dealer, "Idempotency-Key": "dup"}
            first = await p.intake.post("/v1/leads", json=record(), headers=headers)
            again = await p.intake.post("/v1/leads", json=record(), headers=headers)
            assert first.status_code == again.status_code == 409
            assert first.json() == again.json()
            assert await lead_count(p) == 2

    async def test_keys_are_kept_for_the_ttl_then_purged(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await p.register_dealers("D002")  # only registered dealers write
            headers = {**p.auth("dealer", "D002"), "Idempotency-Key": "old"}
            assert (await p.intake.post("/v1/leads", json=record(), headers=headers)).status_code == 201
            runtime = p.apps["intake"].state.runtime
            now = runtime.clock.now()
            async with runtime.db.transaction() as session:  # a day later: kept (TTL 48 h)
                assert (
                    await purge_idempotency_keys(
                        session,
                        older_than=now + timedelta(hours=24) - timedelta(hours=runtime.settings.idempotency_ttl_hours),
                    )
                    == 0
                )
            async with runtime.db.transaction() as session:  # 49 hours later: gone
                assert await purge_idempotency_keys(session, older_than=now + timedelta(hours=1)) == 1
            async with runtime.db.sessions() as session:
                assert (await session.execute(select(func.count()).select_from(IdempotencyKey))).scalar_one() == 0
        with pytest.raises(ValueError, match="at least 24"):
            IntakeSettings(idempotency_ttl_hours=12)


class TestPendingUntilTheRouterRuns:
    async def test_202_then_routed_when_the_router_starts(self, infra: Infra) -> None:
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        intake_url = await fresh_database(infra.database_server_url, "lead_intake")
        router_url = await fresh_database(infra.database_server_url, "dedup_router")
        intake = intake_app(
            service_settings(
                IntakeSettings, infra, database_url=intake_url, topic_prefix=prefix, wait_budget_seconds=0.3
            )
        )
        dealer = infra.auth("dealer", "D002")
        await admit_dealers(intake_url, "D002")  # no router runs yet to register it
        async with running(intake) as client:
            r = await client.post("/v1/leads", json=record(), headers=dealer)
            assert r.status_code == 202, r.text
            lead_id = r.json()["lead_id"]
            assert r.headers["Location"] == f"/v1/leads/{lead_id}"
            assert r.json() == {"lead_id": lead_id, "status": "pending"}
            assert (await client.get(f"/v1/leads/{lead_id}", headers=dealer)).json()["status"] == "pending"
            router = router_app(service_settings(RouterSettings, infra, database_url=router_url, topic_prefix=prefix))
            async with running(router):

                async def status() -> str | None:
                    got = (await client.get(f"/v1/leads/{lead_id}", headers=dealer)).json()["status"]
                    return got if got != "pending" else None

                assert await eventually(status, within=30) == "accepted"


def _network(code: str, name: str, kind: str, *, member: tuple[str, str]) -> dict[str, Any]:
    """A `POST /v1/networks` body with one member (name, type)."""
    return {"code": code, "name": name, "kind": kind, "members": [{"name": member[0], "type": member[1]}]}


class TestInformationNetworks:
    async def test_registration_scope_visibility_and_quarterly_counts(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await p.register_dealers(DEALER, "D002")  # only registered dealers write
            hq, d1, d2 = p.auth("hq_admin"), p.auth("dealer", "D001"), p.auth("dealer", "D002")
            national = _network("NET-CN-INS", "人保全国", "fixed", member=("中国人保", "insurer"))
            r = await p.intake.post("/v1/networks", json=national, headers=hq)
            assert r.status_code == 201, r.text
            assert (r.json()["scope"], r.json()["owner"]) == ("national", "HQ")
            r = await p.intake.post("/v1/networks", json=national, headers=hq)
            assert (r.status_code, r.json()["code"]) == (409, "network_exists")
            regional = _network(
                "NET-SD-0007", "潍坊车管所", "temporary", member=("潍坊市车管所", "vehicle_admin_office")
            )
            r = await p.intake.post("/v1/networks", json=regional, headers=d1)
            assert (r.json()["scope"], r.json()["owner"]) == ("regional", "D001")
            r = await p.intake.post("/v1/networks", json={**regional, "code": "X-1", "scope": "national"}, headers=d1)
            assert (r.status_code, r.json()["code"]) == (403, "forbidden")
            r = await p.intake.post(
                "/v1/networks", json={**regional, "code": "X-2", "kind": "weekly", "owner": "D009"}, headers=d1
            )
            assert r.status_code == 422
            assert {(e["field"], e["code"]) for e in r.json()["errors"]} == {
                ("/kind", "invalid_enum"),
                ("/owner", "unknown_field"),
            }
            # A dealer sees national networks and its own, not another dealer's.
            assert [n["code"] for n in (await p.intake.get("/v1/networks", headers=d2)).json()["items"]] == [
                "NET-CN-INS"
            ]
            assert (await p.intake.get("/v1/networks/NET-SD-0007", headers=d2)).status_code == 404
            assert (await p.intake.get("/v1/networks/NET-SD-0007", headers=d1)).json()["kind"] == "temporary"

            r = await p.intake.post("/v1/leads", json=record(phone=phone_of(1)), headers=d1)
            assert r.status_code == 201
            assert "unknown_network" not in [w["code"] for w in r.json()["warnings"]]
            lead_id = r.json()["lead_id"]
            r = await p.intake.post("/v1/leads", json=record(phone=phone_of(2), network_code="NET-TYPO"), headers=d1)
            assert r.status_code == 201  # kept, never lost over a typo, but flagged
            assert "unknown_network" in [w["code"] for w in r.json()["warnings"]]
            # Another dealer's network is unknown to D2: kept, flagged, and not counted for D1's network.
            r = await p.intake.post("/v1/leads", json=record(phone=phone_of(3), network_code="NET-SD-0007"), headers=d2)
            assert r.status_code == 201, r.text
            assert "unknown_network" in [w["code"] for w in r.json()["warnings"]]

            async def stats() -> dict[str, Any]:
                resp = await p.intake.get("/v1/networks/NET-SD-0007/stats", headers=d1)
                return dict(resp.json())

            first = await stats()
            assert (first["records"], first["verified"]) == (1, 0)

            # The dealer's follow-up verifies the record; the public `lead.verified` event counts it.
            async def d1_tasks() -> list[dict[str, Any]]:
                resp = await p.scheduler.get("/v1/tasks", headers=d1)
                return [t for t in resp.json()["items"] if t["lead_id"] == lead_id]

            task = (await eventually(d1_tasks))[0]
            r = await p.scheduler.post(
                f"/v1/tasks/{task['task_id']}/complete",
                json={"outcome": "within_1_month", "info_verified": True},
                headers=d1,
            )
            assert r.status_code == 200, r.text

            async def verified() -> dict[str, Any] | None:
                got = await stats()
                return got if got["verified"] == 1 else None

            done = await eventually(verified)
            assert (done["records"], done["authenticity"]) == (1, 1.0)
            r = await p.intake.get("/v1/networks/NET-SD-0007/stats?quarter=2020Q1", headers=hq)
            assert (r.json()["records"], r.json()["verified"]) == (0, 0)
            r = await p.intake.get("/v1/networks/NET-SD-0007/stats?quarter=2026-Q4", headers=hq)
            assert r.status_code == 422
