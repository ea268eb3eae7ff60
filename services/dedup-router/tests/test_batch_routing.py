"""Property: route_leads decides a batch exactly as it decides the same records one by one (real PostgreSQL).

The router has one decision path; the consumer hands it a whole poll, and its poison-event fallback a batch of one.
The same generated submissions go through route_leads one record per transaction on one database and, cut into
random batches, on another: same lead saved or refused (and why), same assigned and authorized dealer, rule,
protection, warnings (customer_exists, possible_duplicate with the same keys, strength and matched customer),
fairness explanation, the same registry rows and pool counts. The generator packs few phones, names, fleets and
dealers of one pool into each example so duplicates, repeat customers, possible duplicates, first-entrant
protection (and its expiry a month later) and capability sharing all happen inside one batch.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from dedup_router.batch_routing import route_leads
from dedup_router.routing import DealersChanged
from leadnet_shared.events import LeadSubmitted
from leadnet_shared.testing import Infra, polls

from .conftest import T0, RouterDb, new_router_db

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

NOW = T0 + timedelta(days=90)
PHONES = ["+8613800138000", "+8613900139000", "+8613700137000", "+8613600136000", "+8615000150000"]
NAMES = ["张三", "章三", "李四"]  # 张三 and 章三 read the same in pinyin: a name-in-county key shared by two phones
REGIONS = ["370782", "370102", "370103", "410102"]
# 3701 is one pool shared by capability (D002, D004); 3707 has a county dealer beside the city dealer; Henan: none.
DEALERS = {
    "D001": (["3707"], 80),
    "D002": (["3701"], 60),
    "D004": (["3701"], 30),
    "D005": (["370782"], 20),
    "D003": (["3702"], 40),
}
ENTRANTS = [*DEALERS, None]  # None = HQ

_dbs: tuple[RouterDb, RouterDb] | None = None


async def _databases(infra: Infra) -> tuple[RouterDb, RouterDb]:
    global _dbs
    if _dbs is None:
        made = []
        for _ in range(2):
            rdb = await new_router_db(infra)
            for code, (territories, capability) in DEALERS.items():
                await rdb.add_dealer(code, territories, ["tractor"], capability=capability)
            made.append(rdb)
        _dbs = (made[0], made[1])
    for rdb in _dbs:
        await rdb.truncate()
    return _dbs


submission = st.fixed_dictionaries(
    {
        "phone": st.integers(0, len(PHONES) - 1),
        "name": st.sampled_from(NAMES),
        "region": st.sampled_from(REGIONS),
        "tier": st.sampled_from(["retail", "general_big", "gold_silver"]),
        "entrant": st.sampled_from(ENTRANTS),
        "trucks": st.integers(0, 3),
        "days": st.sampled_from([0, 1, 20, 40]),  # 40 days on: a first entrant's month has run out
        "replay": st.integers(-1, 6),  # >= 0: deliver an earlier submission (same lead id) again here
    }
)


def _events(rdb: RouterDb, drafts: list[dict[str, Any]]) -> list[LeadSubmitted]:
    events: list[LeadSubmitted] = []
    for i, d in enumerate(drafts):
        if d["replay"] >= 0 and d["replay"] < len(events):
            events.append(events[d["replay"]])
            continue
        vehicles = [{"brand": "欧曼", "model": "EST 6", "quantity": d["trucks"]}] if d["trucks"] else []
        events.append(
            rdb.submitted(
                dealer=d["entrant"],
                at=T0 + timedelta(days=d["days"], seconds=i),
                lead_id=f"L{i:03d}",
                phone=PHONES[d["phone"]],
                name=d["name"],
                region=d["region"],
                tier=d["tier"],
                vehicles=vehicles,
            )
        )
    return events


async def _verdicts(rdb: RouterDb) -> dict[str, Any]:
    """Everything a decision leaves behind, with customer ids replaced by phones (ids are random per database)."""
    phone_of = {cid: phone for cid, phone in await rdb.rows("SELECT customer_id, phone FROM customers")}

    def by_phone(explanation: dict[str, Any]) -> dict[str, Any]:
        found = explanation.get("possible_duplicate")
        if found is None:
            return explanation
        # Equally strong candidates go to the lowest customer id, and ids are random uuids in each database: which
        # of them is named can differ, the keys matched and the strength cannot.
        return {**explanation, "possible_duplicate": {**found, "customer_id": None}}

    leads = {
        r[0]: (phone_of[r[1]], *r[2:-1], by_phone(r[-1]))
        for r in await rdb.rows(
            "SELECT lead_id, customer_id, entrant_key, assigned_dealer, authorized_dealer, status, cross_region, "
            "reward_eligible, protection_until, rule, explanation FROM leads"
        )
    }
    accepted = {
        e["data"]["lead_id"]: (
            e["data"]["assigned_dealer"],
            e["data"]["rule"],
            e["data"]["customer_existed"],
            e["data"]["warnings"],
        )
        for e in await rdb.events("leadnet.lead.accepted")
    }
    rejected = [
        (e["data"]["lead_id"], e["data"]["existing_lead_id"], phone_of[e["data"]["customer_id"]])
        for e in await rdb.events("leadnet.lead.rejected")
    ]
    customers = sorted(
        tuple(r)
        for r in await rdb.rows(
            "SELECT phone, name, region_code, tier, assigned_dealer, authorized_dealer, protected_by, "
            "protection_until, "
            "name_county_key, fleet_city_key, product_line FROM customers"
        )
    )
    pools = sorted(tuple(r) for r in await rdb.rows("SELECT prefix, product_line, dealer, assigned FROM pool_counts"))
    upserts = [e["data"]["assigned_dealer"] for e in await rdb.events("leadnet.customer.upserted")]
    return {
        "leads": leads,
        "accepted": accepted,
        "rejected": rejected,
        "customers": customers,
        "pools": pools,
        "upserted": upserts,
    }


class TestBatchGivesTheSequentialVerdicts:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        drafts=st.lists(submission, min_size=1, max_size=14),
        cuts=st.sets(st.integers(1, 13), max_size=4),
        earlier=st.lists(submission, max_size=3),
    )
    async def test_any_batch_split_decides_like_one_by_one(
        self, infra: Infra, drafts: list[dict[str, Any]], cuts: set[int], earlier: list[dict[str, Any]]
    ) -> None:
        sequential, batched = await _databases(infra)
        # A registry that already holds some customers and leads, decided one by one in both databases.
        history = _events(sequential, [{**d, "replay": -1, "days": 0} for d in earlier])
        history = [
            h.model_copy(update={"lead_id": f"H{i}", "submitted_at": T0 - timedelta(days=1)})
            for i, h in enumerate(history)
        ]
        events = _events(sequential, drafts)
        for rdb in (sequential, batched):
            for event in history:
                await rdb.route(event, now=NOW)

        one_by_one = [await sequential.route(event, now=NOW) for event in events]
        together: list[Any] = []
        for poll in polls(events, cuts):
            together += await batched.route_batch(list(poll), now=NOW)

        assert [lead is not None for lead in together] == [lead is not None for lead in one_by_one]
        got, want = await _verdicts(batched), await _verdicts(sequential)
        for part in want:  # part by part, and only the differing leads, so a failure reads at a glance
            if part == "leads":
                differing = sorted(k for k in {*got[part], *want[part]} if got[part].get(k) != want[part].get(k))
                assert not differing, [(k, got[part].get(k), want[part].get(k)) for k in differing]
            assert got[part] == want[part], part


class TestBatchExamples:
    """The property's key cases written out, with the numbers of domain.md §3."""

    async def test_the_same_customer_twice_in_one_batch(self, router_db: RouterDb) -> None:
        await router_db.add_dealer("D001", ["3707"], ["tractor"])
        await router_db.add_dealer("D002", ["3701"], ["tractor"])
        first = router_db.submitted(dealer="D001", phone=PHONES[0])
        again = router_db.submitted(dealer="D001", phone=PHONES[0])  # same dealer, same customer: a duplicate
        other = router_db.submitted(dealer="D002", phone=PHONES[0])  # another dealer: saved, customer_exists
        async with router_db.db.transaction() as session:
            saved = await route_leads(
                session,
                router_db.outbox,
                submissions=[first, again, other, first],
                now=T0,
                dealers=router_db.dealers,
            )
        assert [lead is not None for lead in saved] == [True, False, True, False]
        rejected = await router_db.events("leadnet.lead.rejected")
        assert [(e["data"]["lead_id"], e["data"]["existing_lead_id"]) for e in rejected] == [
            (again.lead_id, first.lead_id)
        ]
        accepted = {e["data"]["lead_id"]: e["data"] for e in await router_db.events("leadnet.lead.accepted")}
        assert accepted[first.lead_id]["customer_existed"] is False
        assert [w["code"] for w in accepted[other.lead_id]["warnings"]] == ["customer_exists"]
        # D002 is not authorized in 370782: a retail record goes to D001, the authorized dealer.
        assert (accepted[other.lead_id]["assigned_dealer"], accepted[other.lead_id]["rule"]) == (
            "D001",
            "cross_region_retail_to_authorized",
        )

    async def test_a_pool_is_shared_by_capability_inside_one_batch(self, router_db: RouterDb) -> None:
        await router_db.add_dealer("D002", ["3701"], ["tractor"], capability=60)
        await router_db.add_dealer("D004", ["3701"], ["tractor"], capability=30)
        subs = [router_db.submitted(dealer=None, phone=f"+86138001{i:05d}", region="370102") for i in range(9)]
        async with router_db.db.transaction() as session:
            await route_leads(session, router_db.outbox, submissions=subs, now=T0, dealers=router_db.dealers)
        # Capabilities 60:30 share 9 leads 6:3, and the counts are stored for the next decision.
        assert sorted(
            tuple(r) for r in await router_db.rows("SELECT dealer, assigned FROM pool_counts ORDER BY dealer")
        ) == [("D002", 6), ("D004", 3)]

    async def test_a_withdrawn_dealer_fails_the_batch(self, router_db: RouterDb) -> None:
        await router_db.add_dealer("D001", ["3707"], ["tractor"])
        await router_db.route(router_db.submitted(dealer="D001", phone=PHONES[1]))  # index cached with D001 active
        async with router_db.db.transaction() as session:
            await session.execute(text("UPDATE dealers SET status = 'withdrawn' WHERE code = 'D001'"))
        with pytest.raises(DealersChanged):
            async with router_db.db.transaction() as session:
                await route_leads(
                    session,
                    router_db.outbox,
                    submissions=[router_db.submitted(dealer="D001", phone=PHONES[0])],
                    now=T0,
                    dealers=router_db.dealers,
                )
        assert await router_db.rows("SELECT 1 FROM customers WHERE phone = :p", p=PHONES[0]) == []
