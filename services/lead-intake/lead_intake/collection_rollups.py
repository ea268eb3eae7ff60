"""The SQL of the collection plans (domain.md §2): each dealer's target, breakdown, collected, verified and handed-on
counts for a month, and HQ's roll-up per dealer, region and industry. One module for these aggregates; the rules
(targets, the hand-on deadline) are in `collection_plans`.

Counted records: those a dealer (or HQ) entered in the month (Asia/Shanghai), refused duplicates apart; verified:
of those, the ones `leadnet.lead.verified` marked true; handed on by the deadline: of those, the ones entered before
the end of the 25th. A record's region is its customer's province (the first two digits of its county adcode); its
industry is `customer.industry` ("unspecified" when not given).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.collection_plans import dealer_target, hand_on_due_by, hand_on_status, month_bounds, parse_month
from lead_intake.information_networks import HQ_OWNER
from lead_intake.network_grades import grade_rules

UNSPECIFIED = "unspecified"


@dataclass
class NetworkCounts:
    code: str
    grade: str
    planned: int | None
    collected: int = 0
    verified: int = 0


@dataclass
class DealerMonth:
    dealer: str
    month: str
    sales_level: str | None
    region: str | None
    target: int
    graded_in: str | None
    breakdown_networks: int
    breakdown_people: dict[str, int]
    collected: int
    verified: int
    handed_on: int  # by the deadline
    hand_on_due_by: datetime
    hand_on: str  # open | met | short
    flagged: bool
    networks: list[NetworkCounts] = field(default_factory=list)


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


async def dealer_months(
    session: AsyncSession, *, month: str, now: datetime, codes: list[str] | None = None
) -> list[DealerMonth]:
    """Per dealer (the ones named, or every active dealer and every dealer that entered records in the month)."""
    start, end = month_bounds(month)
    year, m = parse_month(month)
    quarter = f"{year}Q{(m - 1) // 3 + 1}"
    due = hand_on_due_by(month)
    dealers: list[tuple[str, str | None, str | None]] = [
        (str(c), level, region)
        for c, level, region in await session.execute(_DEALERS, {"codes": codes, "start": start, "end": end})
    ]
    found = [code for code, _, _ in dealers]
    if codes is not None:  # a dealer intake has not heard of yet still has a plan (unknown level, the floor)
        dealers += [(c, None, None) for c in codes if c not in found]
        found = [code for code, _, _ in dealers]
    graded: dict[str, tuple[str, dict[str, str]]] = {
        owner: (q, {line["code"]: line["grade"] for line in lines})
        for owner, q, lines in await session.execute(_GRADES, {"quarter": quarter, "codes": found})
    }
    networks: dict[str, list[str]] = {}
    for owner, code in await session.execute(_NETWORKS, {"codes": found, "start": start}):
        networks.setdefault(owner, []).append(code)
    counts: dict[str, dict[str, tuple[int, int, int]]] = {}
    for dealer, code, n, v, h in await session.execute(
        _PER_NETWORK, {"codes": found, "start": start, "end": end, "due": due}
    ):
        counts.setdefault(dealer, {})[code] = (int(n), int(v), int(h))
    breakdowns: dict[str, tuple[dict[str, int], dict[str, int]]] = {
        d: (n, p) for d, n, p in await session.execute(_BREAKDOWNS, {"month": month, "codes": found})
    }
    flagged = {d for (d,) in await session.execute(_FLAGS, {"month": month, "codes": found})}
    lowest = grade_rules().grade["regional"].lowest
    out = []
    for code, level, region in dealers:
        quarter_graded, grades = graded.get(code, (None, {}))
        own = networks.get(code, [])
        planned, people = breakdowns.get(code, ({}, {}))
        mine = counts.get(code, {})
        target = dealer_target(sales_level=level, network_grades=[grades.get(n, lowest) for n in own])
        handed_on = sum(h for _, _, h in mine.values())
        out.append(
            DealerMonth(
                dealer=code,
                month=month,
                sales_level=level,
                region=region,
                target=target,
                graded_in=quarter_graded,
                breakdown_networks=sum(planned.values()),
                breakdown_people=people,
                collected=sum(n for n, _, _ in mine.values()),
                verified=sum(v for _, v, _ in mine.values()),
                handed_on=handed_on,
                hand_on_due_by=due,
                hand_on=hand_on_status(target=target, handed_on=handed_on, now=now, due_by=due),
                flagged=code in flagged,
                networks=[
                    NetworkCounts(
                        code=n,
                        grade=grades.get(n, lowest),
                        planned=planned.get(n),
                        collected=mine.get(n, (0, 0, 0))[0],
                        verified=mine.get(n, (0, 0, 0))[1],
                    )
                    for n in own
                ],
            )
        )
    return out


_PER_INDUSTRY = text(
    """
    SELECT coalesce(normalized -> 'customer' ->> 'industry', :unspecified), count(*), count(verified_at)
    FROM leads
    WHERE status <> 'rejected_duplicate' AND submitted_at >= :start AND submitted_at < :end
    GROUP BY 1
    """
)
_PER_REGION = text(
    """
    SELECT left(normalized -> 'customer' ->> 'region_code', 2), count(*), count(verified_at)
    FROM leads
    WHERE status <> 'rejected_duplicate' AND submitted_at >= :start AND submitted_at < :end
    GROUP BY 1
    """
)
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


@dataclass
class Line:
    key: str
    planned: int | None
    collected: int
    verified: int


@dataclass
class MonthRollup:
    month: str
    plan: dict[str, Any] | None  # HQ's plan as stored
    hq_collected: int  # records HQ itself entered
    hq_verified: int
    industries: list[Line]
    national_networks: list[Line]
    regions: list[Line]
    dealers: list[DealerMonth]


async def month_rollup(session: AsyncSession, *, month: str, now: datetime) -> MonthRollup:
    start, end = month_bounds(month)
    span = {"start": start, "end": end}
    plan_row = (
        await session.execute(
            text("SELECT industries, networks, total, issued_at, updated_at FROM collection_plans WHERE month = :m"),
            {"m": month},
        )
    ).first()
    plan = dict(plan_row._mapping) if plan_row is not None else None
    planned_industries: dict[str, int] = plan["industries"] if plan else {}
    planned_networks: dict[str, int] = plan["networks"] if plan else {}
    by_industry = {
        key: (int(n), int(v))
        for key, n, v in await session.execute(_PER_INDUSTRY, {**span, "unspecified": UNSPECIFIED})
    }
    industries = [
        Line(
            key=k,
            planned=planned_industries.get(k),
            collected=by_industry.get(k, (0, 0))[0],
            verified=by_industry.get(k, (0, 0))[1],
        )
        for k in sorted(set(planned_industries) | set(by_industry))
    ]
    national = [
        Line(key=code, planned=planned_networks.get(code), collected=int(n), verified=int(v))
        for code, n, v in await session.execute(_PER_NATIONAL_NETWORK, {**span, "hq": HQ_OWNER})
    ]
    dealers = await dealer_months(session, month=month, now=now)
    by_region = {(key or UNSPECIFIED): (int(n), int(v)) for key, n, v in await session.execute(_PER_REGION, span)}
    planned_regions: dict[str, int] = {}
    for d in dealers:
        key = d.region or UNSPECIFIED
        planned_regions[key] = planned_regions.get(key, 0) + d.target
    regions = [
        Line(
            key=k,
            planned=planned_regions.get(k),
            collected=by_region.get(k, (0, 0))[0],
            verified=by_region.get(k, (0, 0))[1],
        )
        for k in sorted(set(planned_regions) | set(by_region))
    ]
    hq_n, hq_v = (await session.execute(_HQ_COLLECTED, span)).one()
    return MonthRollup(
        month=month,
        plan=plan,
        hq_collected=int(hq_n),
        hq_verified=int(hq_v),
        industries=industries,
        national_networks=national,
        regions=regions,
        dealers=dealers,
    )
