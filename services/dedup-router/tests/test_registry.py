"""The customer registry through route_leads on real PostgreSQL: duplicates, concurrency, possible duplicates,
HQ records and the HQ queue, cross-region protection and its timer, withdrawal, and ids-only errors."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from dedup_router.handlers import RoutingFailed
from dedup_router.protection import release_expired_protections
from dedup_router.redistribution import redistribute_withdrawn_dealer
from leadnet_shared.problems import Conflict

from .conftest import T0, RouterDb

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

PHONE = "+8613800138000"


async def _dealers(rdb: RouterDb) -> None:
    await rdb.add_dealer("D001", ["3707"], ["tractor", "dump"], capability=80)  # Weifang
    await rdb.add_dealer("D002", ["3701"], ["tractor"], capability=60)  # Jinan
    await rdb.add_dealer("D003", ["3702"], ["tractor"], capability=40)  # Qingdao


class TestDuplicates:
    async def test_same_dealer_again_is_a_duplicate_and_nothing_is_saved(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        first = await router_db.submit(dealer="D001", phone=PHONE)
        again = await router_db.submit(dealer="D001", phone=PHONE, name="张三丰")
        assert first is not None and again is None
        assert await router_db.rows("SELECT count(*) FROM leads") == [(1,)]
        rejected = await router_db.events("leadnet.lead.rejected")
        assert [e["data"]["existing_lead_id"] for e in rejected] == [first.lead_id]
        assert rejected[0]["data"]["reason"] == "duplicate_lead"

    async def test_accepted_lead_carries_the_fleet_without_personal_data(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        vehicles = [{"brand": "欧曼", "model": "EST 6", "quantity": 8}, {"brand": "解放", "model": "J6", "quantity": 3}]
        await router_db.submit(dealer="D001", phone=PHONE, vehicles=vehicles)
        (accepted,) = await router_db.events("leadnet.lead.accepted")
        # The scheduler plans repurchase reminders from this summary; no name, phone or address is in it.
        assert accepted["data"]["fleet"] == [
            {"brand": "欧曼", "model": "EST 6", "quantity": 8},
            {"brand": "解放", "model": "J6", "quantity": 3},
        ]

    async def test_another_dealer_is_saved_with_customer_exists(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        first = await router_db.submit(dealer="D001", phone=PHONE)
        second = await router_db.submit(dealer="D002", phone=PHONE)
        assert first is not None and second is not None
        assert second.customer_id == first.customer_id
        accepted = await router_db.events("leadnet.lead.accepted")
        assert accepted[0]["data"]["customer_existed"] is False
        assert accepted[0]["data"]["warnings"] == []
        assert accepted[1]["data"]["customer_existed"] is True
        assert [w["code"] for w in accepted[1]["data"]["warnings"]] == ["customer_exists"]

    async def test_concurrent_submissions_of_one_customer_by_one_dealer_save_exactly_one(
        self, router_db: RouterDb
    ) -> None:
        await _dealers(router_db)
        submissions = [router_db.submitted(dealer="D002", phone=PHONE) for _ in range(8)]
        results = await asyncio.gather(*(router_db.route(s) for s in submissions))
        saved = [r for r in results if r is not None]
        assert len(saved) == 1
        assert await router_db.rows("SELECT count(*) FROM customers") == [(1,)]
        assert await router_db.rows("SELECT count(*) FROM leads WHERE status = 'open'") == [(1,)]
        assert len(await router_db.events("leadnet.lead.rejected")) == 7
        # ...and a different dealer racing with them is saved beside it.
        other = await router_db.submit(dealer="D003", phone=PHONE)
        assert other is not None and other.customer_id == saved[0].customer_id

    async def test_a_redelivered_lead_id_is_not_decided_twice(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        submitted = router_db.submitted(dealer="D002", phone=PHONE)
        assert await router_db.route(submitted) is not None
        assert await router_db.route(submitted) is None
        assert len(await router_db.events()) == 2  # one accepted, one customer.upserted; nothing on the replay


class TestPossibleDuplicates:
    async def test_same_pinyin_name_in_the_same_county_warns_without_personal_data(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        await router_db.submit(dealer="D001", phone=PHONE, name="张三")
        lead = await router_db.submit(dealer="D001", phone="+8613900139000", name="張三")  # traditional script
        assert lead is not None
        warnings = (await router_db.events("leadnet.lead.accepted"))[-1]["data"]["warnings"]
        assert len(warnings) == 1
        warning = warnings[0]
        assert warning["code"] == "possible_duplicate"
        assert warning["matched"] == ["name_county"]
        assert warning["strength"] == 0.6
        assert "张" not in warning["message"] and "張" not in warning["message"]
        assert not re.search(r"\d{4}", warning["message"])

    async def test_same_fleet_in_the_same_city_and_name_together_are_strongest(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        fleet = [{"brand": "欧曼", "model": "EST 6", "quantity": 3}]
        await router_db.submit(dealer="D001", phone=PHONE, name="李四", vehicles=fleet)
        await router_db.submit(dealer="D001", phone="+8613700137000", name="王五", region="370781", vehicles=fleet)
        await router_db.submit(dealer="D001", phone="+8613600136000", name="李四", vehicles=fleet)
        accepted = await router_db.events("leadnet.lead.accepted")
        assert [(w["matched"], w["strength"]) for w in accepted[1]["data"]["warnings"]] == [(["fleet_city"], 0.5)]
        assert [(w["matched"], w["strength"]) for w in accepted[2]["data"]["warnings"]] == [
            (["name_county", "fleet_city"], 1.0)
        ]

    async def test_a_different_county_is_not_a_possible_duplicate(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        await router_db.submit(dealer="D001", phone=PHONE, name="张三")
        await router_db.submit(dealer="D001", phone="+8613900139000", name="张三", region="370781")
        assert (await router_db.events("leadnet.lead.accepted"))[-1]["data"]["warnings"] == []


class TestHqRecordsAndQueue:
    async def test_hq_record_is_routed_like_any_other(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        lead = await router_db.submit(dealer=None, phone=PHONE, region="370102")
        assert lead is not None
        assert (lead.assigned_dealer, lead.authorized_dealer, lead.cross_region, lead.reward_eligible) == (
            "D002",
            "D002",
            False,
            False,
        )
        assert lead.rule == "hq_entry_routed"

    async def test_no_authorized_dealer_puts_it_in_the_hq_queue(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        lead = await router_db.submit(dealer=None, phone=PHONE, region="410102")  # Zhengzhou: nobody
        assert lead is not None and lead.assigned_dealer is None and lead.rule == "hq_queue"
        assert await router_db.rows("SELECT assigned_dealer FROM customers") == [(None,)]

    async def test_two_hq_records_of_one_customer_are_a_duplicate(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        assert await router_db.submit(dealer=None, phone=PHONE) is not None
        assert await router_db.submit(dealer=None, phone=PHONE) is None


class TestCrossRegionProtection:
    async def test_big_customer_stays_one_calendar_month_then_moves_with_its_leads(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        entered = datetime(2027, 1, 31, 2, 0, tzinfo=UTC)  # 10:00 on Jan 31 in Shanghai
        first = await router_db.submit(dealer="D002", phone=PHONE, tier="gold_silver", at=entered)
        assert first is not None
        assert first.assigned_dealer == "D002" and first.authorized_dealer == "D001"
        until = datetime(2027, 2, 28, 2, 0, tzinfo=UTC)  # Feb has no 31st: clamped to the 28th, same wall time
        assert first.protection_until == until
        # A later cross-region entrant gets no protection of its own; the first entrant keeps the customer.
        later = await router_db.submit(dealer="D003", phone=PHONE, tier="gold_silver", at=entered + timedelta(days=3))
        assert later is not None and later.assigned_dealer == "D002" and later.protection_until is None
        assert later.rule == "cross_region_big_customer_held_by_first_entrant"

        async with router_db.db.transaction() as session:
            moved = await release_expired_protections(session, router_db.outbox, now=until - timedelta(seconds=1))
        assert moved == 0
        async with router_db.db.transaction() as session:
            moved = await release_expired_protections(session, router_db.outbox, now=until)
        assert moved == 1
        assert await router_db.rows("SELECT assigned_dealer, protected_by, protection_until FROM customers") == [
            ("D001", None, None)
        ]
        assert sorted(await router_db.rows("SELECT assigned_dealer FROM leads")) == [("D001",), ("D001",)]
        reassigned = await router_db.events("leadnet.lead.reassigned")
        assert sorted(e["data"]["lead_id"] for e in reassigned) == sorted([first.lead_id, later.lead_id])
        assert {(e["data"]["reason"], e["data"]["from_dealer"], e["data"]["to_dealer"]) for e in reassigned} == {
            ("protection_expired", "D002", "D001")
        }
        upserts = await router_db.events("leadnet.customer.upserted")
        assert upserts[-1]["data"]["assigned_dealer"] == "D001" and upserts[-1]["data"]["protected_by"] is None
        async with router_db.db.transaction() as session:  # fired once
            assert await release_expired_protections(session, router_db.outbox, now=until + timedelta(days=9)) == 0

    async def test_retail_cross_region_goes_to_the_authorized_dealer_at_once(self, router_db: RouterDb) -> None:
        await _dealers(router_db)
        lead = await router_db.submit(dealer="D002", phone=PHONE, tier="retail")
        assert lead is not None
        assert (lead.assigned_dealer, lead.cross_region, lead.reward_eligible, lead.protection_until) == (
            "D001",
            True,
            True,
            None,
        )


class TestWithdrawal:
    async def test_dry_run_plans_and_changes_nothing_then_the_real_run_moves_everything(
        self, router_db: RouterDb
    ) -> None:
        await _dealers(router_db)
        await router_db.add_dealer("D004", ["3707"], ["tractor"], capability=20)  # shares Weifang tractor
        await router_db.add_dealer("D005", ["370782"], ["dump"], capability=10)  # Zhucheng dump only
        for i in range(3):
            await router_db.submit(dealer="D001", phone=f"+861380013800{i}", region="370782")
        await router_db.submit(dealer="D001", phone="+8613900139009", region="370702", line="dump")
        before = await router_db.events()
        async with router_db.db.transaction() as session:
            plan = await redistribute_withdrawn_dealer(session, router_db.outbox, code="D001", now=T0, dry_run=True)
        # 3 tractor customers + their 3 leads go to D004; the dump customer in 370702 has no other dealer.
        assert plan == {
            "dry_run": True,
            "withdrawn_dealer": "D001",
            "reassigned": 6,
            "unplaced": 2,
            "per_dealer": {"D004": 6},
        }
        assert await router_db.events() == before
        assert await router_db.rows("SELECT status FROM dealers WHERE code = 'D001'") == [("active",)]

        async with router_db.db.transaction() as session:
            done = await redistribute_withdrawn_dealer(session, router_db.outbox, code="D001", now=T0, dry_run=False)
        assert (done["reassigned"], done["unplaced"]) == (6, 2)
        assert await router_db.rows("SELECT assigned_dealer, count(*) FROM leads GROUP BY 1 ORDER BY 1 NULLS LAST") == [
            ("D004", 3),
            (None, 1),
        ]
        reassigned = await router_db.events("leadnet.lead.reassigned")
        assert len(reassigned) == 4
        assert {e["data"]["reason"] for e in reassigned} == {"dealer_withdrawn"}
        withdrawn = await router_db.events("leadnet.dealer.withdrawn")
        assert [(e["data"]["code"], e["data"]["reassigned"], e["data"]["unplaced"]) for e in withdrawn] == [
            ("D001", 6, 2)
        ]
        # Withdrawn: no new lead goes to it, and it cannot be withdrawn twice.
        lead = await router_db.submit(dealer="D002", phone="+8613500135000", region="370782")
        assert lead is not None and lead.assigned_dealer == "D004"
        with pytest.raises(Conflict):
            async with router_db.db.transaction() as session:
                await redistribute_withdrawn_dealer(session, router_db.outbox, code="D001", now=T0, dry_run=False)


class TestLeadVersion:
    async def test_every_public_lead_event_carries_the_leads_version(self, router_db: RouterDb) -> None:
        # Consumers keep the newest fact by it when a reassignment overtakes its verdict (review M4).
        await _dealers(router_db)
        await router_db.add_dealer("D004", ["3707"], ["tractor"], capability=20)
        await router_db.add_dealer("D006", ["3707"], ["tractor"], capability=10)
        lead = await router_db.submit(dealer="D001", phone=PHONE, region="370782")
        assert lead is not None and lead.version == 1
        for code in ("D001", "D004"):  # the lead moves twice: D001 -> D004 -> D006
            async with router_db.db.transaction() as session:
                await redistribute_withdrawn_dealer(session, router_db.outbox, code=code, now=T0, dry_run=False)
        lead_events = [
            (e["type"], e["data"]["assigned_dealer"], e["data"]["lead_version"])
            for e in await router_db.events()
            if e["type"].startswith("leadnet.lead.")
        ]
        assert lead_events == [
            ("leadnet.lead.accepted", "D001", 1),
            ("leadnet.lead.reassigned", "D004", 2),
            ("leadnet.lead.reassigned", "D006", 3),
        ]
        assert await router_db.rows("SELECT version FROM leads") == [(3,)]


class TestErrorsCarryIdsNotPersonalData:
    async def test_a_database_error_is_reported_by_lead_id_only(self, router_db: RouterDb) -> None:
        from dedup_router.handlers import lead_handler
        from dedup_router.settings import RouterSettings
        from leadnet_shared.clock import FrozenClock
        from leadnet_shared.events import make_envelope
        from leadnet_shared.testing import handler_runtime

        await _dealers(router_db)
        bad_phone = "+86138001380001234567890123"  # longer than the column: the database refuses it
        submitted = router_db.submitted(dealer="D002", phone=bad_phone)
        from dedup_router.models import INBOX, KIT_STATE, OUTBOX

        settings = RouterSettings(env="test", topic_prefix="")
        tables = (OUTBOX, INBOX, KIT_STATE)
        runtime = handler_runtime(settings, router_db.db, tables, clock=FrozenClock(T0), outbox=router_db.outbox)
        handler = lead_handler(runtime)
        envelope = make_envelope(
            data=submitted, event_type="leadnet.lead.submitted", source="/t", time=T0, subject=submitted.lead_id
        )
        with pytest.raises(RoutingFailed) as caught:
            async with router_db.db.transaction() as session:
                await handler(session, [envelope])
        assert submitted.lead_id in str(caught.value)
        assert "13800138" not in str(caught.value) and "张" not in str(caught.value)
