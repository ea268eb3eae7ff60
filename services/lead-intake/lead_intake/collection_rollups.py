"""The collection plans' reading (domain.md §2): each dealer's target, breakdown, collected, verified and handed-on
counts for a month, and HQ's roll-up per dealer, region and industry. The counts are read by
`repository.collection_plans`; the rules (targets, the hand-on deadline) are in `collection_plans`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.collection_plans import dealer_target, hand_on_due_by, hand_on_status, month_bounds, parse_month
from lead_intake.information_networks import HQ_OWNER
from lead_intake.network_grades import grade_rules
from lead_intake.repository import collection_plans as stored

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


async def dealer_months(
    session: AsyncSession, *, month: str, now: datetime, codes: list[str] | None = None
) -> list[DealerMonth]:
    """Per dealer (the ones named, or every active dealer and every dealer that entered records in the month)."""
    start, end = month_bounds(month)
    year, m = parse_month(month)
    quarter = f"{year}Q{(m - 1) // 3 + 1}"
    due = hand_on_due_by(month)
    dealers = await stored.dealers(session, codes=codes, start=start, end=end)
    if codes is not None:  # a dealer intake has not heard of yet still has a plan (unknown level, the floor)
        known = {code for code, _, _ in dealers}
        dealers += [(c, None, None) for c in codes if c not in known]
    found = [code for code, _, _ in dealers]
    graded, networks, counts, breakdowns, flagged = await stored.dealer_facts(
        session, codes=found, month=month, graded_before=quarter, start=start, end=end, due=due
    )
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


def _lines(planned: dict[str, int], counted: dict[str, tuple[int, int]]) -> list[Line]:
    """One line per key planned or counted, by key."""
    return [
        Line(key=k, planned=planned.get(k), collected=counted.get(k, (0, 0))[0], verified=counted.get(k, (0, 0))[1])
        for k in sorted(set(planned) | set(counted))
    ]


async def month_rollup(session: AsyncSession, *, month: str, now: datetime) -> MonthRollup:
    start, end = month_bounds(month)
    plan = await stored.hq_plan(session, month)
    planned_industries: dict[str, int] = plan["industries"] if plan else {}
    planned_networks: dict[str, int] = plan["networks"] if plan else {}
    by_industry = {str(k): n for k, n in (await stored.counts_by(session, "industry", start=start, end=end)).items()}
    national = [
        Line(key=code, planned=planned_networks.get(code), collected=n, verified=v)
        for code, n, v in await stored.counts_per_national_network(session, hq=HQ_OWNER, start=start, end=end)
    ]
    dealers = await dealer_months(session, month=month, now=now)
    by_region = {
        (k or UNSPECIFIED): n for k, n in (await stored.counts_by(session, "region", start=start, end=end)).items()
    }
    planned_regions: dict[str, int] = {}
    for d in dealers:
        key = d.region or UNSPECIFIED
        planned_regions[key] = planned_regions.get(key, 0) + d.target
    hq_n, hq_v = await stored.hq_collected(session, start=start, end=end)
    return MonthRollup(
        month=month,
        plan=plan,
        hq_collected=hq_n,
        hq_verified=hq_v,
        industries=_lines(planned_industries, by_industry),
        national_networks=national,
        regions=_lines(planned_regions, by_region),
        dealers=dealers,
    )
