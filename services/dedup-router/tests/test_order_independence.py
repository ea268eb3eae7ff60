"""Property: verdicts do not depend on the order events arrive in, nor on redelivery (real PostgreSQL).

Submissions of few phones by few dealers (and HQ) are delivered through route_leads in two different orders, with
redeliveries mixed in: one record per transaction, then cut into random batches as consumer polls would be.
Whatever the order and batching: exactly one open lead per (customer, entrant) pair that was submitted; every
lead's authorized dealer is the one the territory rules name and it is assigned to it or kept by its entrant
exactly as domain.md §3 says; at most one protected lead per customer, its first; and delivering everything again
changes nothing. (Which entrant of a big customer is "first" is, by the rule itself, whoever
arrived first: that one verdict is order-dependent by design, so the cross-order comparison leaves it out.)
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadnet_shared.events import LeadSubmitted
from leadnet_shared.testing import Infra

from .conftest import T0, RouterDb, new_router_db

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

PHONES = ["+8613800138000", "+8613900139000", "+8613700137000"]
REGIONS = {"370782": "D001", "370102": "D002", "410102": None}  # region -> its only authorized tractor dealer
ENTRANTS = ["D001", "D002", "D003", None]  # None = HQ
TERRITORY = {"D001": "3707", "D002": "3701", "D003": "3702"}

_db: RouterDb | None = None


async def _shared_db(infra: Infra) -> RouterDb:
    """One migrated database for every example (a fresh one per example would take most of the budget)."""
    global _db
    if _db is None:
        _db = await new_router_db(infra)
        await _db.add_dealer("D001", ["3707"], ["tractor"], capability=80)
        await _db.add_dealer("D002", ["3701"], ["tractor"], capability=60)
        await _db.add_dealer("D003", ["3702"], ["tractor"], capability=40)
    await _db.truncate()
    return _db


customers = st.fixed_dictionaries(
    {
        "region": st.sampled_from(sorted(REGIONS)),
        "tier": st.sampled_from(["retail", "general_big"]),
    }
)
submissions = st.lists(st.tuples(st.integers(0, len(PHONES) - 1), st.sampled_from(ENTRANTS)), min_size=1, max_size=8)


async def _deliver(rdb: RouterDb, events: list[LeadSubmitted], cuts: set[int] | None = None) -> dict[str, Any]:
    """Deliver in batches cut before each index in `cuts` (none: one record per transaction)."""
    await rdb.truncate()
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))}) if cuts else range(len(events) + 1)
    for start, end in itertools.pairwise(bounds):
        await rdb.route_batch(events[start:end], now=T0 + timedelta(minutes=1))
    return await _state(rdb)


async def _state(rdb: RouterDb) -> dict[str, Any]:
    rows = await rdb.rows(
        "SELECT l.lead_id, c.phone, l.entrant_key, l.status, l.assigned_dealer, l.authorized_dealer, "
        "l.protection_until, l.rule, l.entered_at, c.tier, c.region_code FROM leads l "
        "JOIN customers c USING (customer_id) ORDER BY l.lead_id"
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def _check_rules(state: dict[str, Any], submitted_pairs: set[tuple[str, str]]) -> None:
    pairs = Counter((phone, entrant) for phone, entrant, status, *_ in state.values() if status == "open")
    assert set(pairs) == submitted_pairs  # every distinct (customer, entrant) saved once...
    assert max(pairs.values()) == 1  # ...and never twice
    protected: Counter[str] = Counter()
    protector = {v[0]: v[1] for v in state.values() if v[5] is not None}  # phone -> protected entrant
    for phone, entrant, _, assigned, authorized, until, rule, _, tier, region in state.values():
        expected_authorized = REGIONS[region]
        if entrant != "hq" and region.startswith(TERRITORY[entrant]):
            assert (assigned, authorized, rule) == (entrant, entrant, "in_region")
            continue
        assert authorized == expected_authorized
        if entrant == "hq" or tier == "retail":
            assert assigned == expected_authorized and until is None
        elif until is not None:  # the first cross-region entrant of a big customer keeps it for the month
            protected[phone] += 1
            assert (assigned, rule) == (entrant, "cross_region_big_customer_protected")
        elif rule == "cross_region_big_customer_held_by_first_entrant":  # a later one: it follows the first
            assert assigned == protector[phone]
        else:  # a big customer someone in-region (or HQ) reported first: no protection, the authorized dealer
            assert assigned == expected_authorized
    assert all(n == 1 for n in protected.values())


def _order_free(state: dict[str, Any]) -> set[tuple[Any, ...]]:
    """The verdicts that must not depend on arrival order: who has a lead, and retail/HQ/in-region routing."""
    return {
        (phone, entrant, assigned if tier == "retail" or entrant == "hq" or rule == "in_region" else "*")
        for phone, entrant, _, assigned, _, _, rule, _, tier, _ in state.values()
    }


class TestVerdictsDoNotDependOnOrderOrRedelivery:
    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        people=st.lists(customers, min_size=len(PHONES), max_size=len(PHONES)),
        subs=submissions,
        shuffle=st.randoms(use_true_random=False),
        redeliver=st.lists(st.integers(0, 7), max_size=4),
        cuts=st.sets(st.integers(1, 11), min_size=1, max_size=4),
    )
    async def test_any_order_and_batching_with_redeliveries_gives_the_same_verdicts(
        self,
        infra: Infra,
        people: list[dict[str, str]],
        subs: list[tuple[int, str | None]],
        shuffle: Any,
        redeliver: list[int],
        cuts: set[int],
    ) -> None:
        rdb = await _shared_db(infra)
        events = []
        for i, (p, entrant) in enumerate(subs):
            person = people[p]
            events.append(
                rdb.submitted(
                    dealer=entrant,
                    at=T0 + timedelta(seconds=i),
                    lead_id=f"L{i:02d}",
                    phone=PHONES[p],
                    region=person["region"],
                    tier=person["tier"],
                )
            )
        submitted_pairs = {(PHONES[p], entrant or "hq") for p, entrant in subs}

        first = await _deliver(rdb, events)
        _check_rules(first, submitted_pairs)

        reordered = list(events)
        shuffle.shuffle(reordered)
        reordered += [events[i % len(events)] for i in redeliver]  # redeliveries, possibly far from the original
        second = await _deliver(rdb, reordered, cuts)
        _check_rules(second, submitted_pairs)
        assert _order_free(second) == _order_free(first)

        accepted_before = len(await rdb.events("leadnet.lead.accepted"))
        await rdb.route_batch(events[::-1], now=T0 + timedelta(hours=1))  # everything delivered again, in one poll
        assert await _state(rdb) == second
        assert len(await rdb.events("leadnet.lead.accepted")) == accepted_before
