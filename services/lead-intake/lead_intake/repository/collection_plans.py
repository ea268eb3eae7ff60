"""The collection plans' tables (HQ's monthly plan, the dealers' breakdowns, the hand-on judgements) and the
month's counts they are read against. Counted records: those a dealer (or HQ) entered in the month, refused
duplicates apart; verified: of those, the ones `leadnet.lead.verified` marked true; handed on: of those, the ones
entered before the hand-on deadline. A record's region is its customer's province (the first two digits of its
county adcode); its industry is `customer.industry`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.network_models import CollectionBreakdown, CollectionHandOn, CollectionPlan
from lead_intake.repository.common import upsert

_DEALERS = text(
    """
    SELECT code, sales_level, region FROM dealers
    WHERE (CAST(:codes AS varchar[]) IS NULL AND (status = 'active' OR code IN (
              SELECT DISTINCT entered_by FROM leads
              WHERE entered_by IS NOT NULL AND submitted_at >= :start AND submitted_at < :end)))
       OR code = ANY(CAST(:codes AS varchar[]))
    ORDER BY code
    """
)
# The grades of the last quarter evaluated before the month's quarter, per dealer.
_GRADES = text(
    """
    SELECT DISTINCT ON (owner) owner, quarter, lines FROM network_evaluations
    WHERE quarter < :quarter AND owner = ANY(:codes)
    ORDER BY owner, quarter DESC
    """
)
_NETWORKS = text(
    "SELECT owner, code FROM information_networks WHERE owner = ANY(:codes) AND created_at < :start ORDER BY code"
)
_PER_NETWORK = text(
    """
    SELECT entered_by, coalesce(network_code, ''), count(*), count(verified_at),
           count(*) FILTER (WHERE submitted_at < :due)
    FROM leads
    WHERE entered_by = ANY(:codes) AND status <> 'rejected_duplicate' AND submitted_at >= :start AND submitted_at < :end
    GROUP BY 1, 2
    """
)
_BREAKDOWNS = text(
    "SELECT dealer, networks, people FROM collection_breakdowns WHERE month = :month AND dealer = ANY(:codes)"
)
_FLAGS = text("SELECT dealer FROM collection_hand_ons WHERE month = :month AND dealer = ANY(:codes) AND NOT met")
_PLAN = text("SELECT industries, networks, total, issued_at, updated_at FROM collection_plans WHERE month = :m")
# Every record of the month by a key of its customer: the industry ("unspecified" when not given) or the province.
_PER_KEY = {
    key: text(
        f"""
        SELECT {expression}, count(*), count(verified_at)
        FROM leads
        WHERE status <> 'rejected_duplicate' AND submitted_at >= :start AND submitted_at < :end
        GROUP BY 1
        """
    )
    for key, expression in (
        ("industry", "coalesce(normalized -> 'customer' ->> 'industry', 'unspecified')"),
        ("region", "left(normalized -> 'customer' ->> 'region_code', 2)"),
    )
}
_PER_NATIONAL_NETWORK = text(
    """
    SELECT n.code, count(l.lead_id), count(l.verified_at)
    FROM information_networks n
    LEFT JOIN leads l ON l.network_code = n.code AND l.status <> 'rejected_duplicate'
         AND l.submitted_at >= :start AND l.submitted_at < :end
    WHERE n.owner = :hq
    GROUP BY n.code ORDER BY n.code
    """
)
_HQ_COLLECTED = text(
    """
    SELECT count(*), count(verified_at) FROM leads
    WHERE entered_by IS NULL AND status <> 'rejected_duplicate' AND submitted_at >= :start AND submitted_at < :end
    """
)
_NOT_JUDGED = text(
    """
    SELECT code FROM dealers d WHERE status = 'active' AND first_seen_at < :due
      AND NOT EXISTS (SELECT 1 FROM collection_hand_ons h WHERE h.dealer = d.code AND h.month = :month)
    ORDER BY code
    """
)


async def save_hq_plan(session: AsyncSession, **values: Any) -> None:
    """Issue HQ's plan for the month, or replace its counts (it keeps when it was first issued)."""
    changes = ("industries", "networks", "total", "updated_at", "updated_by")
    await upsert(session, CollectionPlan, values, key=["month"], changes=changes)


async def save_breakdown(session: AsyncSession, **values: Any) -> None:
    """File or replace a dealer's breakdown of its month's target."""
    changes = ("networks", "people", "updated_at", "updated_by")
    await upsert(session, CollectionBreakdown, values, key=["dealer", "month"], changes=changes)


async def hq_plan(session: AsyncSession, month: str) -> dict[str, Any] | None:
    """HQ's plan for the month as stored, if issued."""
    row = (await session.execute(_PLAN, {"m": month})).first()
    return dict(row._mapping) if row is not None else None


async def dealers(
    session: AsyncSession, *, codes: list[str] | None, start: datetime, end: datetime
) -> list[tuple[str, str | None, str | None]]:
    """(code, sales level, region) of the dealers named, or of every active dealer and every dealer that entered
    records in [start, end); by code."""
    found = await session.execute(_DEALERS, {"codes": codes, "start": start, "end": end})
    return [(str(code), level, region) for code, level, region in found]


class DealerFacts(NamedTuple):
    """What a month's dealer plans are computed from, per dealer."""

    graded: dict[str, tuple[str, dict[str, str]]]  # the last quarter evaluated, and its grade of each network
    networks: dict[str, list[str]]  # its networks registered before the month, by code
    counts: dict[str, dict[str, tuple[int, int, int]]]  # per network code ('' none): collected, verified, handed on
    breakdowns: dict[str, tuple[dict[str, int], dict[str, int]]]  # its breakdown per network and per person
    flagged: set[str]  # flagged short of the month's hand-on


async def dealer_facts(
    session: AsyncSession,
    *,
    codes: list[str],
    month: str,
    graded_before: str,
    start: datetime,
    end: datetime,
    due: datetime,
) -> DealerFacts:
    """The facts of these dealers' month [start, end): grades from the last quarter evaluated before
    `graded_before`, records handed on by `due`."""
    networks: dict[str, list[str]] = {}
    for owner, code in await session.execute(_NETWORKS, {"codes": codes, "start": start}):
        networks.setdefault(owner, []).append(code)
    counts: dict[str, dict[str, tuple[int, int, int]]] = {}
    span = {"codes": codes, "start": start, "end": end, "due": due}
    for dealer, code, n, v, h in await session.execute(_PER_NETWORK, span):
        counts.setdefault(dealer, {})[code] = (int(n), int(v), int(h))
    return DealerFacts(
        graded={
            owner: (q, {line["code"]: line["grade"] for line in lines})
            for owner, q, lines in await session.execute(_GRADES, {"quarter": graded_before, "codes": codes})
        },
        networks=networks,
        counts=counts,
        breakdowns={d: (n, p) for d, n, p in await session.execute(_BREAKDOWNS, {"month": month, "codes": codes})},
        flagged={d for (d,) in await session.execute(_FLAGS, {"month": month, "codes": codes})},
    )


async def counts_by(
    session: AsyncSession, key: str, *, start: datetime, end: datetime
) -> dict[str | None, tuple[int, int]]:
    """Records and verified records of [start, end) per `industry` or per `region` of their customers."""
    found = await session.execute(_PER_KEY[key], {"start": start, "end": end})
    return {k: (int(n), int(v)) for k, n, v in found}


async def counts_per_national_network(
    session: AsyncSession, *, hq: str, start: datetime, end: datetime
) -> list[tuple[str, int, int]]:
    """Per national network, by code: records named it in [start, end), and verified records."""
    found = await session.execute(_PER_NATIONAL_NETWORK, {"hq": hq, "start": start, "end": end})
    return [(code, int(n), int(v)) for code, n, v in found]


async def hq_collected(session: AsyncSession, *, start: datetime, end: datetime) -> tuple[int, int]:
    """Records HQ itself entered in [start, end), and verified records."""
    n, v = (await session.execute(_HQ_COLLECTED, {"start": start, "end": end})).one()
    return int(n), int(v)


async def dealers_to_judge(session: AsyncSession, *, month: str, due: datetime) -> list[str]:
    """The active dealers known before the month's hand-on deadline and not judged for the month yet."""
    return [code for (code,) in await session.execute(_NOT_JUDGED, {"month": month, "due": due})]


async def judge_hand_ons(session: AsyncSession, rows: list[dict[str, Any]]) -> list[tuple[str, int, int, bool]]:
    """Record the judgements not recorded yet (another replica may be first); (dealer, target, handed on, met) of
    those recorded now."""
    inserted = await session.execute(
        pg_insert(CollectionHandOn)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(CollectionHandOn.dealer, CollectionHandOn.target, CollectionHandOn.handed_on, CollectionHandOn.met)
    )
    return [(dealer, target, handed_on, met) for dealer, target, handed_on, met in inserted.all()]
