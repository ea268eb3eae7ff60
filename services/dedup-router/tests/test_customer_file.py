"""The customer file (issue 17 §7): corrections by the assigned dealer or HQ, every change kept with who and when,
the phone and the possible-duplicate keys following the correction on the routing code's own path, the correction
published masked and kept in the timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from dedup_router.customer_file import correct_customer, customer_file, remember_profiles
from dedup_router.customer_tiers import apply_recheck_corrections
from dedup_router.handlers import LEAD_TYPES
from dedup_router.models import Customer, CustomerChange, DecidedLead, TimelineEntry
from dedup_router.possible_duplicates import duplicate_keys
from dedup_router.routing import _vehicles
from dedup_router.schemas import CustomerFileOut, CustomerPatch
from leadnet_shared.auth import Principal
from leadnet_shared.events import LeadCorrected
from leadnet_shared.phone import normalize_phone
from leadnet_shared.problems import Conflict, NotFound

from .conftest import T0, RouterDb

pytestmark = [pytest.mark.postgres]

PHONE = "+8613800138000"
OTHER_PHONE = "+8613900139000"
NOW = T0 + timedelta(days=3)
D001 = Principal(sub="alice@d001", role="dealer", dealer="D001")
D002 = Principal(sub="bob@d002", role="dealer", dealer="D002")
HQ = Principal(sub="carol@hq", role="hq_admin", dealer=None)


async def _routed(rdb: RouterDb, *, phone: str = PHONE, dealer: str = "D002") -> DecidedLead:
    """D002 (Jinan) enters a Weifang customer: it is assigned to D001; its profile is the record's blocks."""
    submitted = rdb.submitted(dealer=dealer, phone=phone)
    lead = await rdb.route(submitted)
    assert lead is not None and lead.assigned_dealer == "D001"
    async with rdb.db.transaction() as session:
        await remember_profiles(session, submissions=[submitted], decided=[lead], now=T0)
    return lead


async def _dealers(rdb: RouterDb) -> None:
    await rdb.add_dealer("D001", ["3707"])
    await rdb.add_dealer("D002", ["3701"])


async def _correct(rdb: RouterDb, customer_id: str, principal: Principal, **fields: Any) -> CustomerFileOut:
    async with rdb.db.transaction() as session:
        return await correct_customer(
            session,
            rdb.outbox,
            customer_id=customer_id,
            patch=CustomerPatch.model_validate(fields),
            principal=principal,
            now=NOW,
        )


async def _customer(rdb: RouterDb, customer_id: str) -> Customer:
    async with rdb.db.sessions() as session:
        customer = await session.get(Customer, customer_id)
    assert customer is not None
    return customer


async def _changes(rdb: RouterDb, customer_id: str) -> list[tuple[str, Any, Any, str]]:
    async with rdb.db.sessions() as session:
        rows = (
            await session.execute(
                select(CustomerChange).where(CustomerChange.customer_id == customer_id).order_by(CustomerChange.seq)
            )
        ).scalars()
        return [(r.field, r.old_value, r.new_value, r.changed_by) for r in rows]


class TestCorrections:
    async def test_each_change_is_kept_with_who_and_when_and_the_keys_follow(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        lead = await _routed(router_db)
        before = await _customer(router_db, lead.customer_id)
        vehicles = [{"brand": "欧曼", "model": "GTL", "quantity": 3}]
        out = await _correct(
            router_db, lead.customer_id, D001, phone="139-0013-9001", name="李四", vehicles_in_use=vehicles
        )
        after = await _customer(router_db, lead.customer_id)
        # The phone is the identity: stored normalized by the kit's normalizer, found by any spelling of it.
        assert after.phone == normalize_phone("139 0013 9001") == "+8613900139001"
        assert out.phone == "+8613900139001" and out.masked is False  # the assigned dealer sees it unmasked
        keys = duplicate_keys(
            name="李四", region_code=after.region_code, vehicles=_vehicles({"vehicles_in_use": vehicles})
        )
        assert (after.name_county_key, after.fleet_city_key) == (keys.name_county, keys.fleet_city)
        assert after.name_county_key != before.name_county_key and after.fleet_city_key != before.fleet_city_key
        assert await _changes(router_db, lead.customer_id) == [
            ("phone", PHONE, "+8613900139001", "alice@d001"),
            ("name", "张三", "李四", "alice@d001"),
            ("vehicles_in_use", [{"brand": "欧曼", "model": "EST 6", "quantity": 1}], vehicles, "alice@d001"),
        ]

        # A second correction appends; the first one's rows stay as they were.
        await _correct(router_db, lead.customer_id, HQ, usage={"cargo": "砂石", "load_tons": 40})
        history = await _changes(router_db, lead.customer_id)
        assert len(history) == 4 and history[3] == ("usage", None, {"cargo": "砂石", "load_tons": 40.0}, "carol@hq")
        async with router_db.db.sessions() as session:
            file = await customer_file(session, customer_id=lead.customer_id, principal=HQ)
        assert file.usage == {"cargo": "砂石", "load_tons": 40.0} and file.vehicles_in_use == vehicles

    async def test_the_correction_is_published_masked_and_kept_in_the_timeline(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        lead = await _routed(router_db)
        out = await _correct(
            router_db, lead.customer_id, D001, phone="13900139001", address="山东省潍坊市诸城市龙都街道5号"
        )
        [corrected] = await router_db.events("leadnet.customer.corrected")
        upserted = (await router_db.events("leadnet.customer.upserted"))[-1]
        assert corrected["id"] == out.change_id and corrected["subject"] == lead.customer_id
        data = corrected["data"]
        assert (data["actor"], data["dealer"], data["assigned_dealer"]) == ("alice@d001", "D001", "D001")
        assert data["changes"] == [
            {"field": "phone", "old": "138****8000", "new": "139****9001"},
            {"field": "address", "old": "山东省潍坊市诸城市***", "new": "山东省潍坊市诸城市***"},
        ]
        assert upserted["data"]["customer"]["phone"] == "139****9001"
        for event in (corrected, upserted):
            raw = orjson.dumps(event).decode()
            assert "13900139001" not in raw and "龙都街道" not in raw and "13800138000" not in raw
        async with router_db.db.sessions() as session:
            [entry] = (
                await session.execute(select(TimelineEntry).where(TimelineEntry.customer_id == lead.customer_id))
            ).scalars()
        assert (entry.event_id, entry.type, entry.actor, entry.dealer) == (
            out.change_id,
            "leadnet.customer.corrected",
            "alice@d001",
            "D001",
        )
        assert entry.summary["changes"] == data["changes"]  # the timeline keeps what was published: masked

    async def test_a_tier_correction_goes_through_the_tier_decision_either_way(self, router_db: RouterDb) -> None:
        # contract.md: "a later record or a correction that raises a customer's tier updates it" — a correction
        # is an explicit statement, so it may also lower the tier (a later record only raises it).
        await _dealers(router_db)
        lead = await _routed(router_db)
        assert (await _customer(router_db, lead.customer_id)).tier == "retail"
        await _correct(router_db, lead.customer_id, D001, tier="gold_silver", nature="competitor")
        await _correct(router_db, lead.customer_id, HQ, tier="general_big")
        after = await _customer(router_db, lead.customer_id)
        assert (after.tier, after.nature) == ("general_big", "competitor")
        changed = [e["data"] for e in await router_db.events("leadnet.customer.tier_changed")]
        assert [(c["old_tier"], c["new_tier"], c["new_nature"], c["reason"], c["changed_by"]) for c in changed] == [
            ("retail", "gold_silver", "competitor", "correction", "D001"),
            ("gold_silver", "general_big", "competitor", "correction", "carol@hq"),
        ]
        assert [c[:3] for c in await _changes(router_db, lead.customer_id)] == [
            ("tier", "retail", "gold_silver"),
            ("nature", "new", "competitor"),
            ("tier", "gold_silver", "general_big"),
        ]
        with pytest.raises(ValidationError):
            CustomerPatch.model_validate({"tier": "platinum"})

    async def test_a_recheck_that_corrects_the_tier_changes_the_customers_class_once(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        lead = await _routed(router_db)
        corrected = LeadCorrected(
            lead_id=lead.lead_id,
            return_round=1,
            corrected_by="D002",
            corrections={"customer": {"tier": "gold_silver", "name": "张三"}, "usage": {"cargo": "砂石"}},
            corrected_at=NOW,
        )
        unrelated = LeadCorrected(lead_id=lead.lead_id, corrections={"usage": {"cargo": "煤"}}, corrected_at=NOW)
        first = [("retail", "gold_silver", "correction", lead.lead_id)]
        for expected in (first, []):  # a redelivered correction says nothing new
            async with router_db.db.transaction() as session:
                events = await apply_recheck_corrections(session, [corrected, unrelated], now=NOW)
            assert [(e.old_tier, e.new_tier, e.reason, e.lead_id) for e in events] == expected
        assert (await _customer(router_db, lead.customer_id)).tier == "gold_silver"
        assert {"leadnet.lead.submitted", "leadnet.lead.corrected"} <= LEAD_TYPES

    async def test_only_the_assigned_dealer_or_hq_may_correct(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        lead = await _routed(router_db)  # entered by D002, assigned to D001
        with pytest.raises(NotFound):
            await _correct(router_db, lead.customer_id, D002, name="王五")
        with pytest.raises(NotFound):
            await _correct(router_db, "no-such-customer", HQ, name="王五")
        assert await _changes(router_db, lead.customer_id) == []

    async def test_a_phone_another_customer_has_is_refused_and_nothing_changes(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        lead = await _routed(router_db)
        await _routed(router_db, phone=OTHER_PHONE)
        with pytest.raises(Conflict) as refused:
            await _correct(router_db, lead.customer_id, HQ, phone="139 0013 9000", name="王五")
        assert refused.value.code == "phone_belongs_to_another_customer"
        customer = await _customer(router_db, lead.customer_id)
        assert (customer.phone, customer.name) == (PHONE, "张三")
        assert await _changes(router_db, lead.customer_id) == []
        assert await router_db.events("leadnet.customer.corrected") == []

    async def test_a_patch_that_changes_nothing_records_nothing(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        lead = await _routed(router_db)
        out = await _correct(router_db, lead.customer_id, D001, phone="138 0013 8000", name="张三")
        assert out.change_id is None
        assert await _changes(router_db, lead.customer_id) == []
        assert await router_db.events("leadnet.customer.corrected") == []


class TestPatchValidation:
    def test_every_field_problem_is_reported_at_once(self) -> None:
        with pytest.raises(ValidationError) as failed:
            CustomerPatch.model_validate(
                {
                    "phone": "12345",
                    "name": None,
                    "address": " ",
                    "vehicles_in_use": [{"brand": "欧曼", "quantity": 0}],
                    "purchase_intent": {"horizon": "someday"},
                    "assigned_dealer": "D002",
                }
            )
        found = {(".".join(map(str, e["loc"])), e["type"]) for e in failed.value.errors()}
        assert found == {
            ("phone", "invalid_phone"),
            ("name", "null_not_allowed"),
            ("address", "string_too_short"),
            ("vehicles_in_use.0.quantity", "greater_than_equal"),
            ("purchase_intent.horizon", "literal_error"),
            ("assigned_dealer", "extra_forbidden"),
        }
