"""The ledger's HTTP API: HQ sets guarantees in range before payout, monthly statements explain every line (JSON
and CSV, Shanghai months), a dealer reads only its own account."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from leadnet_shared.auth import Role, ensure_keys, mint_token
from leadnet_shared.clock import FrozenClock
from leadnet_shared.testing import Infra, fresh_database, new_topic_prefix, running, service_settings
from rewards_ledger.app import create_app
from rewards_ledger.settings import LedgerSettings
from tests.ledger_harness import LedgerHarness, lead_accepted, lead_verified, sale_cancelled

from .story import LEAD, sold

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

# 2026-11-30 23:30 in Shanghai is still November there, though UTC says 15:30 the same day.
LATE_NOVEMBER = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)


class Api:
    def __init__(self, client: httpx.AsyncClient, ledger: LedgerHarness, infra: Infra, clock: FrozenClock) -> None:
        self.client, self.ledger, self.infra, self.clock = client, ledger, infra, clock

    async def put_guarantee(
        self, amount: Any, *, role: Role = "hq_admin", sale: str = "S2", vin: str = "V1"
    ) -> httpx.Response:
        return await self.client.put(
            f"/v1/ledger/guarantees/{sale}/{vin}",
            json={"amount_fen": amount},
            headers=self.infra.auth(role, "D002" if role == "dealer" else None),
        )


@pytest.fixture
async def api(infra: Infra) -> AsyncIterator[Api]:
    clock = FrozenClock(LATE_NOVEMBER)
    url = await fresh_database(infra.database_server_url, "rewards_ledger")
    settings = service_settings(
        LedgerSettings, infra, database_url=url, topic_prefix=await new_topic_prefix(infra.bootstrap_servers)
    )
    ledger = LedgerHarness.open(url, clock=clock, topic_prefix=settings.topic_prefix)
    try:
        async with running(create_app(settings, clock=clock, consume=False)) as client:
            yield Api(client, ledger, infra, clock)
    finally:
        await ledger.close()


async def _entrant_sold_two_tractors(api: Api) -> None:
    at = api.clock.now()
    await api.ledger.deliver(
        [
            lead_accepted(**LEAD, at=at),
            lead_verified(**LEAD, at=at),
            sold("S2", seller="D002", supplied_by="D001", vehicles=[("V1", "tractor"), ("V2", "tractor")], at=at),
        ]
    )


class TestHqSetsTheProfitGuarantee:
    async def test_in_range_is_a_reversal_plus_a_new_entry(self, api: Api) -> None:
        await _entrant_sold_two_tractors(api)
        r = await api.put_guarantee(250000)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "posted" and body["amount_fen"] == 250000
        assert body["reversed_entry_id"] is not None
        entries = await api.ledger.entries()
        assert [(e["kind"], e["vin"], e["amount_fen"]) for e in entries[-2:]] == [
            ("reversal", "V1", -200000),
            ("profit_guarantee", "V1", 250000),
        ]
        assert entries[-2]["reverses"] == body["reversed_entry_id"]
        assert entries[-1]["idempotency_key"] == "profit_guarantee:S2:V1#2"
        assert await api.ledger.balances() == {"D002": 200 + 250000 + 200000}
        again = await api.put_guarantee(250000)  # the same amount again changes nothing
        assert again.json()["entry_id"] == body["entry_id"]
        assert len(await api.ledger.entries()) == len(entries)

    @pytest.mark.parametrize("amount", [99999, 300001, 0, -100000])
    async def test_out_of_range_is_422(self, api: Api, amount: int) -> None:
        await _entrant_sold_two_tractors(api)
        r = await api.put_guarantee(amount)
        assert r.status_code == 422
        assert r.json()["code"] == "validation_failed"
        assert r.json()["errors"][0] == {
            "field": "/amount_fen",
            "code": "out_of_range",
            "message": "A profit guarantee is between 100000 and 300000 fen per vehicle.",
        }

    async def test_bounds_are_allowed(self, api: Api) -> None:
        await _entrant_sold_two_tractors(api)
        assert (await api.put_guarantee(100000)).status_code == 200
        assert (await api.put_guarantee(300000, vin="V2")).status_code == 200
        assert await api.ledger.balances() == {"D002": 200 + 100000 + 300000}

    async def test_only_hq_admin_and_only_known_guaranteed_vehicles(self, api: Api) -> None:
        await _entrant_sold_two_tractors(api)
        assert (await api.put_guarantee(150000, role="dealer")).status_code == 403
        assert (await api.put_guarantee(150000, role="hq_analyst")).status_code == 403
        assert (await api.put_guarantee(150000, vin="NOPE")).status_code == 404
        assert (await api.put_guarantee("150000")).status_code == 422
        r = await api.client.put(
            "/v1/ledger/guarantees/S2/V1",
            json={"amount_fen": 150000, "dealer": "D009"},
            headers=api.infra.auth("hq_admin"),
        )
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "unknown_field"
        await api.ledger.deliver([sold(vehicles=[("V7", "tractor")], entered_by=None)])
        r = await api.put_guarantee(150000, sale="S1", vin="V7")
        assert r.status_code == 409 and r.json()["code"] == "no_profit_guarantee"
        await api.ledger.deliver([sale_cancelled(sale_id="S2", customer_id="C1")])
        r = await api.put_guarantee(150000)
        assert r.status_code == 409 and r.json()["code"] == "sale_cancelled"

    async def test_set_while_held_is_paid_at_that_amount_on_verification(self, api: Api) -> None:
        await api.ledger.deliver([sold("S2", seller="D002", supplied_by="D001", vehicles=[("V1", "dump")])])
        r = await api.put_guarantee(180000)
        assert r.status_code == 200 and r.json()["status"] == "pending"
        await api.ledger.deliver([lead_accepted(**LEAD), lead_verified(**LEAD)])
        assert await api.ledger.balances() == {"D002": 200 + 180000}

    async def test_refused_after_the_month_is_paid_out(self, api: Api) -> None:
        await _entrant_sold_two_tractors(api)
        r = await api.client.post("/v1/ledger/payouts/2026-11", headers=api.infra.auth("hq_admin"))
        assert r.status_code == 409 and r.json()["code"] == "month_not_ended"
        api.clock.advance(timedelta(days=2))
        r = await api.client.post("/v1/ledger/payouts/2026-11", headers=api.infra.auth("hq_admin"))
        assert r.status_code == 201, r.text
        assert r.json()["total_fen"] == 200 + 2 * 200000
        assert r.json()["dealers"] == [{"dealer": "D002", "amount_fen": 400200}]
        again = await api.client.post("/v1/ledger/payouts/2026-11", headers=api.infra.auth("hq_admin"))
        assert again.status_code == 200 and again.json()["closed_at"] == r.json()["closed_at"]
        r = await api.put_guarantee(250000)
        assert r.status_code == 409 and r.json()["code"] == "guarantee_paid_out"
        assert await api.ledger.balances() == {"D002": 400200}
        # A cancellation after payout is still reversed: a claw-back on December's statement.
        await api.ledger.deliver([sale_cancelled(sale_id="S2", customer_id="C1")])
        assert await api.ledger.balances() == {"D002": 200}
        r = await api.client.get("/v1/ledger/statements/D002/2026-12", headers=api.infra.auth("dealer", "D002"))
        assert [(x["kind"], x["amount_fen"]) for x in r.json()["lines"]] == [("reversal", -200000)] * 2
        assert r.json()["opening_balance_fen"] == 400200 and r.json()["closing_balance_fen"] == 200


class TestMonthlyStatement:
    async def test_json_explains_each_line_with_running_total(self, api: Api) -> None:
        await _entrant_sold_two_tractors(api)
        r = await api.client.get("/v1/ledger/statements/D002/2026-11", headers=api.infra.auth("dealer", "D002"))
        assert r.status_code == 200, r.text
        s = r.json()
        assert (s["opening_balance_fen"], s["total_fen"], s["closing_balance_fen"]) == (0, 400200, 400200)
        assert s["paid_out"] is False and s["timezone"] == "Asia/Shanghai"
        assert [(x["kind"], x["amount_fen"], x["running_total_fen"]) for x in s["lines"]] == [
            ("info_fee", 200, 200),
            ("profit_guarantee", 200000, 200200),
            ("profit_guarantee", 200000, 400200),
        ]
        first = s["lines"][0]
        assert first["lead_id"] == "L1" and first["customer"] == {"name": "张*", "phone": "138****8000"}
        assert first["posted_at"].startswith("2026-11-30T23:30:00+08:00")
        assert "L1" in first["explanation"] and "138****8000" in first["explanation"]
        assert "V2" in s["lines"][2]["explanation"]
        # 23:30 Shanghai on Nov 30 is November: December's statement is empty.
        r = await api.client.get("/v1/ledger/statements/D002/2026-12", headers=api.infra.auth("hq_analyst"))
        assert r.json()["lines"] == [] and r.json()["opening_balance_fen"] == 400200

    async def test_csv_by_accept_header_or_query(self, api: Api) -> None:
        await _entrant_sold_two_tractors(api)
        for kwargs in ({"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}):
            headers = {**api.infra.auth("hq_admin"), **kwargs.get("headers", {})}
            r = await api.client.get("/v1/ledger/statements/D002/2026-11", params=kwargs.get("params"), headers=headers)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(r.text)))
            assert [(x["kind"], x["amount_fen"], x["running_total_fen"]) for x in rows] == [
                ("opening_balance", "", "0"),
                ("info_fee", "200", "200"),
                ("profit_guarantee", "200000", "200200"),
                ("profit_guarantee", "200000", "400200"),
                ("closing_balance", "", "400200"),
            ]
            assert rows[1]["customer_phone"] == "138****8000" and rows[1]["lead_id"] == "L1"

    async def test_a_dealer_reads_only_its_own(self, api: Api) -> None:
        await _entrant_sold_two_tractors(api)
        for path in ("/v1/ledger/statements/D002/2026-11", "/v1/ledger/accounts/D002"):
            r = await api.client.get(path, headers=api.infra.auth("dealer", "D001"))
            assert r.status_code == 404 and r.json()["code"] == "not_found"
        r = await api.client.get("/v1/ledger/accounts/D002", headers=api.infra.auth("dealer", "D002"))
        assert r.json() == {"dealer": "D002", "balance_fen": 400200, "earned_fen": 400200, "reversed_fen": 0}
        r = await api.client.get("/v1/ledger/statements/D002/2026-13", headers=api.infra.auth("hq_admin"))
        assert r.status_code == 422

    async def test_entries_page_with_cursor(self, api: Api) -> None:
        await _entrant_sold_two_tractors(api)
        r = await api.client.get(
            "/v1/ledger/entries", params={"dealer": "D002", "limit": 2}, headers=api.infra.auth("dealer", "D002")
        )
        page = r.json()
        assert len(page["items"]) == 2 and page["next_cursor"]
        r = await api.client.get(
            "/v1/ledger/entries",
            params={"dealer": "D002", "cursor": page["next_cursor"]},
            headers=api.infra.auth("dealer", "D002"),
        )
        assert [e["vin"] for e in r.json()["items"]] == ["V2"] and r.json()["next_cursor"] is None


def admin(api: Api, sub: str) -> dict[str, str]:
    """An hq_admin token of one named person (the token subject is who prepared or approved)."""
    private_path, jwks_path = ensure_keys(api.infra.key_dir)
    kid = json.loads(jwks_path.read_text())["keys"][0]["kid"]
    token = mint_token(private_key_pem=private_path.read_bytes(), kid=kid, role="hq_admin", sub=sub)
    return {"Authorization": f"Bearer {token}"}


async def post(api: Api, path: str, sub: str) -> httpx.Response:
    return await api.client.post(path, headers=admin(api, sub))


def _payout(r: httpx.Response, by: str) -> tuple[Any, ...]:
    """A payout's status, the admin who took its last step (`by`: closed_by, approved_by) and its total."""
    return r.json()["status"], r.json()[by], r.json()["total_fen"]


class TestPayoutByTwoAdmins:
    """Payouts in two steps (issue 16 §1): one hq_admin prepares a month, a different hq_admin releases it."""

    async def test_prepared_by_one_released_by_another(self, api: Api) -> None:
        await _entrant_sold_two_tractors(api)
        api.clock.advance(timedelta(days=2))
        r = await post(api, "/v1/ledger/payouts/2026-11/approve", "hq_admin:bob")
        assert (r.status_code, r.json()["code"]) == (409, "payout_not_prepared")
        r = await post(api, "/v1/ledger/payouts/2026-11", "hq_admin:alice")
        assert r.status_code == 201, r.text
        assert _payout(r, "closed_by") == ("prepared", "hq_admin:alice", 400200)
        r = await api.client.get("/v1/ledger/statements/D002/2026-11", headers=api.infra.auth("dealer", "D002"))
        assert r.json()["paid_out"] is False  # prepared is not paid
        r = await post(api, "/v1/ledger/payouts/2026-11/approve", "hq_admin:alice")
        assert (r.status_code, r.json()["code"]) == (403, "approver_prepared_payout")
        r = await api.client.post("/v1/ledger/payouts/2026-11/approve", headers=api.infra.auth("hq_analyst"))
        assert r.status_code == 403
        r = await post(api, "/v1/ledger/payouts/2026-11/approve", "hq_admin:bob")
        assert r.status_code == 200, r.text
        assert _payout(r, "approved_by") == ("released", "hq_admin:bob", 400200)
        again = await post(api, "/v1/ledger/payouts/2026-11/approve", "hq_admin:carol")
        assert again.json()["approved_by"] == "hq_admin:bob"  # released once
        r = await api.client.get("/v1/ledger/payouts/2026-11", headers=api.infra.auth("hq_analyst"))
        assert r.json()["status"] == "released"
        r = await api.client.get("/v1/ledger/statements/D002/2026-11", headers=api.infra.auth("dealer", "D002"))
        assert r.json()["paid_out"] is True
