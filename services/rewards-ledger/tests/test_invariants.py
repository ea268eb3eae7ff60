"""Invariants of the ledger over random histories of verifications, sales, cancellations and guarantee changes,
with duplicates, reordering and redelivery, applied through the real handlers on a real database.

After every batch: all lines sum to zero, every posting is balanced, no earlier row changed; after the history (and
after replaying all of it once more) each dealer's balance equals what a simple reference model of domain.md §3
says. A failing history is printed (hypothesis `note`) with the blob that replays it (`@reproduce_failure`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from leadnet_shared.events import Envelope
from leadnet_shared.policy import rewards_policy
from leadnet_shared.problems import ServiceError
from leadnet_shared.settings import database_url_for, to_plain_url
from leadnet_shared.testing import Infra, fresh_database
from rewards_ledger.guarantees import set_guarantee_amount
from tests.ledger_harness import (
    LedgerHarness,
    lead_accepted,
    lead_verified,
    republished,
    sale_attributed,
    sale_cancelled,
)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

DEALERS = ("D1", "D2", "D3")
LINES = ("tractor", "dump", "bus")
POLICY = rewards_policy()
GUARANTEE_DEFAULT = {"tractor": 200000, "dump": 150000, "bus": 100000}  # bus is not in the table: default_fen


@dataclass(frozen=True)
class LeadSpec:
    lead_id: str
    entered_by: str | None
    authorized: str
    cross_region: bool
    tier: str
    customer_existed: bool


@dataclass(frozen=True)
class SaleSpec:
    sale_id: str
    lead_id: str | None
    seller: str
    supplied_by: str | None
    vehicles: tuple[tuple[str, str], ...]


# Biased towards records that earn rewards, so most histories move money; the rest cover what earns nothing.
leads_st = st.builds(
    LeadSpec,
    lead_id=st.just(""),
    entered_by=st.sampled_from(("D1", "D1", "D2", None)),
    authorized=st.sampled_from(("D3", "D3", "D2")),
    cross_region=st.sampled_from((True, True, True, False)),
    tier=st.sampled_from(("retail", "retail", "retail", "gold_silver")),
    customer_existed=st.sampled_from((False, False, False, True)),
)


@st.composite
def worlds(draw: Any) -> tuple[list[LeadSpec], list[SaleSpec]]:
    leads = [LeadSpec(**{**draw(leads_st).__dict__, "lead_id": f"L{i}"}) for i in range(draw(st.integers(1, 2)))]
    sales = []
    for i in range(draw(st.integers(0, 4))):
        lead = draw(st.sampled_from([*leads, *leads, None]))
        entrant = lead.entered_by if lead is not None else None
        seller = draw(st.sampled_from([d for d in (*DEALERS, entrant, entrant) if d is not None]))
        authorized = lead.authorized if lead else None
        supplied = draw(st.sampled_from((*DEALERS, None, authorized, authorized)))
        n = draw(st.integers(1, 2))
        vehicles = tuple((f"V{i}{j}", draw(st.sampled_from(LINES))) for j in range(n))
        sales.append(SaleSpec(f"S{i}", lead.lead_id if lead else None, seller, supplied, vehicles))
    return leads, sales


Op = tuple[str, ...]  # ("accepted", L) | ("verified", L) | ("attributed", S) | ("cancelled", S) | ("set", S, vin, amt)


# A generated history: the leads and sales of a world and the polls that deliver their facts.
History = tuple[list[LeadSpec], list[SaleSpec], list[list[tuple[Op, str]]]]


@st.composite
def histories(draw: Any, max_batch: int = 4) -> History:
    leads, sales = draw(worlds())
    ops: list[Op] = []
    for lead in leads:
        ops += [("accepted", lead.lead_id)] + [("verified", lead.lead_id)] * draw(st.sampled_from((0, 1, 1, 2)))
    for sale in sales:
        ops += [("attributed", sale.sale_id)] * draw(st.integers(1, 2))
        ops += [("cancelled", sale.sale_id)] * draw(st.sampled_from((0, 1, 1, 2)))
        for vin, _ in sale.vehicles:
            for _ in range(draw(st.integers(0, 2))):
                amount = draw(st.sampled_from((100000, 180000, 300000, 99999, 300001)))
                ops.append(("set", sale.sale_id, vin, str(amount)))
    ops = draw(st.permutations(ops))
    # How each op is delivered: once, redelivered (same event id) or republished (new id, same fact).
    delivery = [(op, draw(st.sampled_from(("once", "once", "redelivered", "republished")))) for op in ops]
    # Split into consumer batches (one transaction each).
    batches: list[list[tuple[Op, str]]] = []
    i = 0
    while i < len(delivery):
        size = draw(st.integers(1, max_batch))
        batches.append(delivery[i : i + size])
        i += size
    return leads, sales, batches


@dataclass
class Model:
    """The rules of domain.md §3, written out plainly over what has been delivered so far."""

    leads: dict[str, LeadSpec]
    sales: dict[str, SaleSpec]
    accepted: set[str] = field(default_factory=set)
    verified: set[str] = field(default_factory=set)
    attributed: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)
    amounts: dict[tuple[str, str], int] = field(default_factory=dict)

    def guarantee_accepted(self, sale_id: str, vin: str, amount: int) -> bool:
        sale = self.sales[sale_id]
        if not 100000 <= amount <= 300000 or sale_id not in self.attributed or sale_id in self.cancelled:
            return False
        if sale.lead_id is None or vin not in dict(sale.vehicles):
            return False
        lead = self.leads[sale.lead_id]
        # The sale's claims say which vehicles earn a guarantee (the router knew the record's authorized dealer when
        # it attributed the sale), whether or not the ledger has heard of the record yet.
        return (
            sale.seller == lead.entered_by
            and sale.supplied_by not in (None, sale.seller)
            and sale.supplied_by == lead.authorized
        )

    def balances(self) -> dict[str, int]:
        owed: dict[str, int] = {}
        for lead in self.leads.values():
            if lead.lead_id not in self.verified or not (
                lead.cross_region and lead.tier == "retail" and lead.entered_by is not None
            ):
                continue
            if lead.customer_existed and lead.lead_id in self.accepted:
                continue  # a duplicate of an existing customer earns nothing
            entrant = lead.entered_by
            total = 200
            live = [
                s
                for s in self.sales.values()
                if s.lead_id == lead.lead_id and s.sale_id in self.attributed and s.sale_id not in self.cancelled
            ]
            if any(s.seller != entrant for s in live):
                total += 10000
            for s in live:
                if s.seller == entrant and s.supplied_by == lead.authorized and s.supplied_by != entrant:
                    total += sum(
                        self.amounts.get((s.sale_id, vin), GUARANTEE_DEFAULT[line]) for vin, line in s.vehicles
                    )
            owed[entrant] = owed.get(entrant, 0) + total
        return owed


def envelope_for(op: Op, leads: dict[str, LeadSpec], sales: dict[str, SaleSpec]) -> Envelope:
    kind, key = op[0], op[1]
    if kind in ("accepted", "verified"):
        lead = leads[key]
        facts: dict[str, Any] = {
            "lead_id": key,
            "customer_id": "C" + key,
            "entered_by": lead.entered_by,
            "authorized": lead.authorized,
            "cross_region": lead.cross_region,
            "tier": lead.tier,
            # the router's flag: a cross-region retail record entered by a dealer
            "eligible": lead.cross_region and lead.tier == "retail" and lead.entered_by is not None,
        }
        if kind == "accepted":
            return lead_accepted(**facts, customer_existed=lead.customer_existed)
        return lead_verified(**facts)
    sale = sales[key]
    customer = "C" + (sale.lead_id or "X")
    if kind == "attributed":
        entrant = leads[sale.lead_id].entered_by if sale.lead_id else None
        authorized = leads[sale.lead_id].authorized if sale.lead_id else None
        return sale_attributed(
            sale_id=key,
            customer_id=customer,
            lead_id=sale.lead_id,
            seller=sale.seller,
            supplied_by=sale.supplied_by,
            vehicles=list(sale.vehicles),
            entered_by=entrant,
            authorized=authorized,
        )
    return sale_cancelled(sale_id=key, customer_id=customer)


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "postings": [tuple(r) for r in await conn.fetch("SELECT * FROM postings ORDER BY seq")],
        "lines": [tuple(r) for r in await conn.fetch("SELECT * FROM lines ORDER BY line_id")],
    }


async def check_books(conn: asyncpg.Connection, before: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    assert await conn.fetchval("SELECT coalesce(sum(amount_fen), 0) FROM lines") == 0
    unbalanced = await conn.fetch(
        "SELECT p.entry_id FROM postings p LEFT JOIN lines l USING (entry_id) "
        "GROUP BY p.entry_id HAVING count(l.*) < 2 OR sum(l.amount_fen) <> 0"
    )
    assert unbalanced == []
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'leadnet.event.dead_lettered'") == 0
    # one live posting per fact at most
    live = await conn.fetch(
        "SELECT fact_key, count(*) FROM postings p WHERE kind <> 'reversal' AND NOT EXISTS "
        "(SELECT 1 FROM postings r WHERE r.reverses = p.entry_id) GROUP BY fact_key "
        "HAVING count(*) > 1"
    )
    assert live == []
    now = await snapshot(conn)
    for table, rows in before.items():
        assert now[table][: len(rows)] == rows, f"an earlier {table} row changed"
    return now


async def live_ledger(conn: asyncpg.Connection) -> list[tuple[Any, ...]]:
    """What is paid and stands, fact by fact (which sale a purchase reward is booked on may depend on arrival)."""
    rows = await conn.fetch(
        "SELECT fact_key, kind, dealer, amount_fen, vin FROM postings p WHERE kind <> 'reversal' "
        "AND NOT EXISTS (SELECT 1 FROM postings r WHERE r.reverses = p.entry_id) ORDER BY fact_key"
    )
    return [tuple(r) for r in rows]


async def run_history(
    infra: Infra,
    leads: list[LeadSpec],
    sales: list[SaleSpec],
    batches: list[list[tuple[Op, str]]],
    *,
    batch: bool = False,
) -> list[tuple[Any, ...]]:
    """Deliver the history (one-by-one path, or the batch path as production does) checking the books after every
    poll and the balances against the model; returns the live ledger."""
    url = await fresh_database(infra.database_server_url, "rewards_ledger")
    harness = LedgerHarness.open(url, pool_size=2, batch=batch)
    conn = await asyncpg.connect(to_plain_url(url))
    lead_map, sale_map = {x.lead_id: x for x in leads}, {x.sale_id: x for x in sales}
    model = Model(lead_map, sale_map)
    delivered: list[Envelope] = []
    try:
        books = await snapshot(conn)
        for poll in batches:
            events: list[Envelope] = []
            for op, how in poll:
                if op[0] == "set":
                    await flush(harness, events, delivered)
                    await set_amount(harness, model, op)
                    continue
                env = envelope_for(op, lead_map, sale_map)
                events.append(env)
                if how == "redelivered":
                    events.append(env)
                elif how == "republished":
                    events.append(republished(env))
                getattr(
                    model,
                    {
                        "accepted": "accepted",
                        "verified": "verified",
                        "attributed": "attributed",
                        "cancelled": "cancelled",
                    }[op[0]],
                ).add(op[1])
            await flush(harness, events, delivered)
            books = await check_books(conn, books)
        assert await harness.balances() == model.balances()
        # Replaying everything delivered (a consumer group reset, a broker that lost its offsets) changes nothing.
        for i in range(0, len(delivered), 50):
            await harness.deliver(delivered[i : i + 50])
            await harness.deliver([republished(e) for e in delivered[i : i + 50]])
        after = await check_books(conn, books)
        assert after == books
        assert harness.fallbacks == 0, "the batch handler failed and the one-by-one path took over"
        return await live_ledger(conn)
    finally:
        await conn.close()
        await harness.close()
        admin = await asyncpg.connect(to_plain_url(database_url_for(infra.database_server_url, "postgres")))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()


async def flush(harness: LedgerHarness, events: list[Envelope], delivered: list[Envelope]) -> None:
    if events:
        await harness.deliver(events)
        delivered.extend(events)
        events.clear()


async def set_amount(harness: LedgerHarness, model: Model, op: Op) -> None:
    _, sale_id, vin, amount = op
    expected = model.guarantee_accepted(sale_id, vin, int(amount))
    try:
        async with harness.db.transaction() as session:
            await set_guarantee_amount(
                session,
                harness.runtime.outbox,
                sale_id=sale_id,
                vin=vin,
                amount_fen=int(amount),
                set_by="hq",
                now=harness.runtime.clock.now(),
                prefix="t.",
                policy=POLICY,
            )
        accepted = True
    except ServiceError:
        accepted = False
    assert accepted == expected, f"HQ setting {op} accepted={accepted}, the model says {expected}"
    if accepted:
        model.amounts[(sale_id, vin)] = int(amount)


def noted(history: History) -> History:
    """The history, also written into Hypothesis's report of a failing example."""
    leads, sales, batches = history
    note(f"leads: {leads}")
    note(f"sales: {sales}")
    for n, batch in enumerate(batches):
        note(f"batch {n}: {batch}")
    return history


class TestLedgerInvariants:
    @settings(
        max_examples=40,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(history=histories())
    def test_any_history_keeps_the_books_balanced_and_pays_what_the_rules_say(
        self, infra: Infra, history: History
    ) -> None:
        leads, sales, batches = noted(history)
        asyncio.run(run_history(infra, leads, sales, batches))

    @settings(
        max_examples=25,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(history=histories(max_batch=12))  # polls of up to 24 events: several facts of a record in one poll
    def test_the_batch_path_keeps_the_invariants_and_pays_as_the_one_by_one_path(
        self, infra: Infra, history: History
    ) -> None:
        leads, sales, batches = noted(history)
        by_batch = asyncio.run(run_history(infra, leads, sales, batches, batch=True))
        one_by_one = asyncio.run(run_history(infra, leads, sales, batches, batch=False))
        assert by_batch == one_by_one
