"""The quarterly network evaluation (domain.md §1): its rating tables, when it falls due on the Asia/Shanghai
calendar, and, on a real PostgreSQL built by intake's migrations, one result and one event per owner and quarter
however often and by however many replicas it runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from lead_intake.models import OUTBOX, InformationNetwork
from lead_intake.network_dealers import on_dealer_events
from lead_intake.network_evaluation import (
    authenticity_rating,
    development_completion,
    evaluate_quarter,
    evaluation_due_at,
    evaluation_timer,
    kinds_expected,
    quarter_due,
)
from lead_intake.network_models import NetworkDevelopmentPlan
from lead_intake.network_plan_reminders import send_plan_reminders
from leadnet_shared.clock import SHANGHAI, FrozenClock
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import DealerUpserted, DealerWithdrawn, make_envelope
from leadnet_shared.outbox import Outbox
from leadnet_shared.settings import to_asyncpg_url

from .conftest import walk_in_record

EVALUATED = "leadnet.network.evaluated"


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)  # type: ignore[misc]


# ---- rules (no database) ------------------------------------------------------------------------------------------


class TestRatings:
    @pytest.mark.parametrize(
        ("developed", "planned", "rating"),
        [(17, 20, "excellent"), (85, 100, "excellent"), (84, 100, "average"), (60, 100, "average"), (59, 100, "poor")],
    )
    def test_development_completion_table(self, developed: int, planned: int, rating: str) -> None:
        assert development_completion(developed=developed, planned=planned) == (developed / planned, rating)

    def test_no_plan_no_completion(self) -> None:
        assert development_completion(developed=3, planned=None) == (None, None)
        assert development_completion(developed=3, planned=0) == (None, None)

    @given(planned=st.integers(min_value=1, max_value=10_000), data=st.data())
    def test_completion_rating_at_every_boundary(self, planned: int, data: st.DataObject) -> None:
        around = [planned * 85 // 100 + d for d in (-1, 0, 1)] + [planned * 60 // 100 + d for d in (-1, 0, 1)]
        developed = data.draw(st.one_of(st.sampled_from([max(0, a) for a in around]), st.integers(0, 2 * planned)))
        share = Fraction(developed, planned)
        expected = "excellent" if share >= Fraction(85, 100) else "average" if share >= Fraction(60, 100) else "poor"
        assert development_completion(developed=developed, planned=planned)[1] == expected

    @given(records=st.integers(min_value=1, max_value=10**6), data=st.data())
    def test_authenticity_rating_at_every_boundary(self, records: int, data: st.DataObject) -> None:
        around = [records // 2 + d for d in (-1, 0, 1)] + [records // 5 + d for d in (-1, 0, 1)]
        verified = data.draw(
            st.one_of(st.sampled_from([v for v in around if 0 <= v <= records]), st.integers(0, records))
        )
        share = Fraction(verified, records)
        expected = "excellent" if share >= Fraction(1, 2) else "average" if share >= Fraction(1, 5) else "poor"
        assert authenticity_rating(records=records, verified=verified) == (verified / records, expected)

    def test_exactly_50_percent_is_excellent(self) -> None:
        assert authenticity_rating(records=10, verified=5)[1] == "excellent"

    def test_kinds_expected_by_sales_level(self) -> None:
        assert [kinds_expected(owner="D001", sales_level=s) for s in ("gte_1000", "300_999", "lt_300")] == [14, 13, 12]
        assert kinds_expected(owner="D001", sales_level=None) is None
        assert kinds_expected(owner="HQ", sales_level=None) is None


class TestCalendar:
    def test_due_on_the_10th_of_the_quarters_first_month_in_shanghai(self) -> None:
        assert evaluation_due_at("2026Q1") == shanghai(2026, 4, 10, 1, 0)
        assert evaluation_due_at("2026Q4") == shanghai(2027, 1, 10, 1, 0)

    def test_the_quarter_due(self) -> None:
        assert quarter_due(shanghai(2026, 4, 10, 0, 59)) == "2025Q4"
        assert quarter_due(shanghai(2026, 4, 10, 1, 0)) == "2026Q1"
        assert quarter_due(shanghai(2026, 3, 31, 23, 59)) == "2025Q4"
        assert quarter_due(shanghai(2027, 1, 9, 12, 0)) == "2026Q3"
        assert quarter_due(shanghai(2027, 1, 10, 2, 0)) == "2026Q4"


# ---- on the database ----------------------------------------------------------------------------------------------


async def add_network(
    db: Database, code: str, owner: str, *, at: datetime, types: tuple[str, ...] = ("insurer",)
) -> None:
    async with db.transaction() as session:
        session.add(
            InformationNetwork(
                code=code,
                name=code,
                kind="fixed",
                scope="national" if owner == "HQ" else "regional",
                owner=owner,
                members=[{"name": t, "type": t} for t in types],
                registered_by="test",
                created_at=at,
            )
        )


def development_plan(
    owner: str, period: str, kind: str, quarter: str, planned: int, *, due_by: datetime, filed_at: datetime
) -> NetworkDevelopmentPlan:
    """A plan filed on time by `test`, with no one named responsible."""
    return NetworkDevelopmentPlan(
        owner=owner,
        period=period,
        kind=kind,
        quarter=quarter,
        planned_networks=planned,
        responsible={},
        due_by=due_by,
        first_submitted_at=filed_at,
        late=False,
        updated_at=filed_at,
        updated_by="test",
    )


async def add_records(
    db: Database, code: str, *, at: datetime, n: int = 1, verified: int = 0, status: str = "accepted"
) -> None:
    async with db.transaction() as session:
        for i in range(n):
            verified_at = at + timedelta(days=3) if i < verified else None
            blocks = {"usage": {}, "purchase_intent": {}, "vehicles_in_use": [{"brand": "x"}]}
            registered = {"network_code": code, "network_registered": True}
            session.add(walk_in_record(at=at, status=status, normalized=blocks, verified_at=verified_at, **registered))


async def evaluate(db: Database, quarter: str, now: datetime, trigger: str = "timer") -> list[str]:
    async with db.transaction() as session:
        run = await evaluate_quarter(session, Outbox(OUTBOX), quarter=quarter, now=now, trigger=trigger)
    return run.evaluated


async def rows(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.sessions() as session:
        return list((await session.execute(text(sql), params)).all())


async def evaluated_events(db: Database) -> list[dict[str, Any]]:
    found = await rows(db, "SELECT payload FROM outbox WHERE event_type = :t ORDER BY seq", t=EVALUATED)
    return [orjson.loads(p) for (p,) in found]


async def dealer_event(db: Database, data: DealerUpserted | DealerWithdrawn, at: datetime) -> None:
    envelope = make_envelope(data=data, source="/leadnet/router", time=at, subject=None)
    async with db.transaction() as session:
        await on_dealer_events(session, [envelope])


def upserted(code: str, level: str | None, at: datetime) -> DealerUpserted:
    return DealerUpserted(
        code=code,
        name=code,
        territories=["37"],
        product_lines=["tractor"],
        capability=1,
        sales_level=level,
        updated_at=at,
    )


class TestOnTheDatabase:
    async def test_a_record_at_2359_on_31_march_shanghai_belongs_to_q1(self, intake_db: tuple[str, Database]) -> None:
        _, db = intake_db
        await add_network(db, "NET-1", "D001", at=shanghai(2026, 1, 5))
        await add_records(db, "NET-1", at=shanghai(2026, 3, 31, 23, 59), verified=1)
        await add_records(db, "NET-1", at=shanghai(2026, 4, 1, 0, 0), n=2)
        await evaluate(db, "2026Q1", shanghai(2026, 4, 10, 1))
        await evaluate(db, "2026Q2", shanghai(2026, 7, 10, 1))
        found = await rows(
            db, "SELECT quarter, records, verified FROM network_evaluations WHERE owner = 'D001' ORDER BY quarter"
        )
        assert [tuple(r) for r in found] == [("2026Q1", 1, 1), ("2026Q2", 2, 0)]

    async def test_run_twice_and_by_two_replicas_one_result_and_one_event(
        self, intake_db: tuple[str, Database]
    ) -> None:
        url, db = intake_db
        await add_network(db, "NET-HQ", "HQ", at=shanghai(2026, 2, 1))
        await add_network(db, "NET-1", "D001", at=shanghai(2026, 2, 1))
        await add_records(db, "NET-1", at=shanghai(2026, 3, 2), n=4, verified=2)
        replica = Database(make_engine(to_asyncpg_url(url), pool_size=2, max_overflow=0))
        try:
            now = shanghai(2026, 4, 10, 1)
            first, second = await asyncio.gather(evaluate(db, "2026Q1", now), evaluate(replica, "2026Q1", now))
            assert sorted(first + second) == ["D001", "HQ"]  # each owner claimed by exactly one replica
            assert await evaluate(db, "2026Q1", now + timedelta(hours=1), trigger="on_demand") == []
        finally:
            await replica.engine.dispose()
        assert await rows(db, "SELECT owner, count(*) FROM network_evaluations GROUP BY owner ORDER BY owner") == [
            ("D001", 1),
            ("HQ", 1),
        ]
        events = await evaluated_events(db)
        assert sorted(e["data"]["owner"] for e in events) == ["D001", "HQ"]
        d001 = next(e for e in events if e["data"]["owner"] == "D001")
        assert (d001["subject"], d001["data"]["records"], d001["data"]["authenticity_rating"]) == (
            "D001",
            4,
            "excellent",
        )

    async def test_an_owners_evaluation(self, intake_db: tuple[str, Database]) -> None:
        _, db = intake_db
        await dealer_event(db, upserted("D001", "300_999", shanghai(2025, 12, 1)), shanghai(2025, 12, 1))
        await add_network(db, "NET-OLD", "D001", at=shanghai(2025, 11, 1), types=("insurer", "bank", "service_repair"))
        await add_network(db, "NET-NEW", "D001", at=shanghai(2026, 2, 1), types=("fleet", "insurer"))
        await add_network(db, "NET-OTHER", "D002", at=shanghai(2026, 2, 1))
        await add_records(db, "NET-OLD", at=shanghai(2026, 1, 3), n=301, verified=60)  # C, 60/301 < 20 %: level 3
        await add_records(db, "NET-OLD", at=shanghai(2026, 2, 3), n=2, status="rejected_duplicate")
        await add_records(db, "NET-NEW", at=shanghai(2026, 3, 3), n=10, verified=5)  # D-1
        await evaluate(db, "2026Q1", shanghai(2026, 4, 10, 1))
        [row] = await rows(
            db,
            "SELECT networks, networks_developed, records, verified, authenticity_rating, sales_level, kinds_expected,"
            " kinds_present, class_counts, lines FROM network_evaluations WHERE owner = 'D001'",
        )
        networks, developed, records, verified, rating, level, expected, present, classes, lines = row
        assert (networks, developed, records, verified) == (2, 1, 311, 65)
        assert (rating, level, expected) == ("average", "300_999", 13)  # 65 / 311 = 20.9 %
        assert present == ["bank", "fleet", "insurer"]  # service_repair is not one of the 14 kinds
        assert classes == {"C-3": 1, "D-1": 1}
        old = next(line for line in lines if line["code"] == "NET-OLD")
        assert (old["grade"], old["authenticity_level"], old["management"], old["collection_cycle"]) == (
            "C",
            3,
            "auxiliary",
            "monthly",
        )
        assert (old["active_days"], old["active_months"], old["duplicates_refused"]) == (1, 1, 2)
        assert sorted(o for (o,) in await rows(db, "SELECT owner FROM network_evaluations")) == ["D001", "D002", "HQ"]

    async def test_the_timer_evaluates_when_due_and_once(self, intake_db: tuple[str, Database]) -> None:
        _, db = intake_db
        await add_network(db, "NET-1", "D001", at=shanghai(2026, 1, 5))
        clock = FrozenClock(shanghai(2026, 4, 10, 0, 30))
        runtime: Any = SimpleNamespace(db=db, outbox=Outbox(OUTBOX), clock=clock)
        step = evaluation_timer(runtime)
        wait = await step()
        assert wait == 900.0  # looks again within 15 minutes
        assert await rows(db, "SELECT owner FROM network_evaluations WHERE quarter = '2026Q1'") == []
        clock.set(shanghai(2026, 4, 10, 1, 0))
        await step()
        await step()  # a second pass (or a restart) finds nothing left to do
        assert len(await rows(db, "SELECT owner FROM network_evaluations WHERE quarter = '2026Q1'")) == 2
        assert len([e for e in await evaluated_events(db) if e["data"]["quarter"] == "2026Q1"]) == 2

    async def test_dealer_levels_from_the_dealers_topic(self, intake_db: tuple[str, Database]) -> None:
        _, db = intake_db
        t0 = shanghai(2026, 1, 1)
        await dealer_event(db, upserted("D001", "lt_300", t0 + timedelta(hours=2)), t0)
        await dealer_event(db, upserted("D001", "gte_1000", t0 + timedelta(hours=1)), t0)  # older: ignored
        await dealer_event(db, upserted("D002", "big", t0), t0)  # not a level: unknown
        await dealer_event(db, DealerWithdrawn(code="D001", withdrawn_at=t0 + timedelta(hours=3)), t0)
        found = await rows(db, "SELECT code, sales_level, status FROM dealers ORDER BY code")
        assert [tuple(r) for r in found] == [("D001", "lt_300", "withdrawn"), ("D002", None, "active")]

    async def test_development_completion_divides_by_the_quarters_plans(self, intake_db: tuple[str, Database]) -> None:
        _, db = intake_db
        async with db.transaction() as session:
            for period, kind, n in (("2026Q1", "fixed", 2), ("2026-01", "temporary", 1), ("2026-03", "temporary", 1)):
                session.add(
                    development_plan(
                        "D001", period, kind, "2026Q1", n, due_by=shanghai(2026, 1, 6), filed_at=shanghai(2026, 1, 2)
                    )
                )
        for i, month in enumerate((1, 2, 3)):
            await add_network(db, f"NET-{i}", "D001", at=shanghai(2026, month, 3))
        await add_network(db, "NET-Q2", "D001", at=shanghai(2026, 4, 1))  # developed in the next quarter
        await evaluate(db, "2026Q1", shanghai(2026, 4, 10, 1))
        [row] = await rows(
            db,
            "SELECT networks_planned, networks_developed, development_completion, development_rating "
            "FROM network_evaluations WHERE owner = 'D001'",
        )
        assert tuple(row) == (4, 3, 0.75, "average")
        [hq] = await rows(db, "SELECT networks_planned, development_rating FROM network_evaluations WHERE owner = 'HQ'")
        assert tuple(hq) == (None, None)  # no plan, nothing to rate

    async def test_plan_reminders_once_and_not_to_an_owner_that_filed(self, intake_db: tuple[str, Database]) -> None:
        url, db = intake_db
        await dealer_event(db, upserted("D001", "lt_300", shanghai(2026, 1, 1)), shanghai(2026, 1, 1))
        await dealer_event(db, upserted("D002", "lt_300", shanghai(2026, 1, 1)), shanghai(2026, 1, 1))
        async with db.transaction() as session:
            session.add(
                development_plan(
                    "D002",
                    "2027-01",
                    "temporary",
                    "2027Q1",
                    1,
                    due_by=shanghai(2027, 1, 6),
                    filed_at=shanghai(2026, 12, 30),
                )
            )
        now = shanghai(2027, 1, 2, 9, 0)
        other = Database(make_engine(to_asyncpg_url(url), pool_size=1, max_overflow=0))

        async def send(database: Database) -> int:
            async with database.transaction() as session:
                return await send_plan_reminders(session, Outbox(OUTBOX), now=now)

        try:
            sent = await asyncio.gather(send(db), send(other))
        finally:
            await other.engine.dispose()
        assert sum(sent) == 5  # HQ, D001, D002 for 2027Q1; HQ, D001 for 2027-01 (D002 filed it)
        found = await rows(db, "SELECT payload FROM outbox WHERE event_type = 'leadnet.network.plan_reminder'")
        reminded = sorted((e["data"]["owner"], e["data"]["period"]) for e in (orjson.loads(p) for (p,) in found))
        assert reminded == [
            ("D001", "2027-01"),
            ("D001", "2027Q1"),
            ("D002", "2027Q1"),
            ("HQ", "2027-01"),
            ("HQ", "2027Q1"),
        ]
