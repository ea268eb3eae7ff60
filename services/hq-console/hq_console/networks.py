"""The networks page: every information network's records in the period and how many of them have been verified
since (its live authenticity level, domain.md §1), and the quarterly evaluations HQ and the dealers' networks got
(`leadnet.network.evaluated`: grade classes such as "B-2", authenticity, development completion)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.filters import Filters, Scope
from hq_console.insights import measure_where
from hq_console.periods import Period, containing
from hq_console.tiers import measures_policy


class NetworkRow(BaseModel):
    network_code: str | None  # None: records that named no network
    records_received: int
    refused_at_intake: int
    records_accepted: int
    verified: int  # of the records accepted in the period, verified since
    authenticity_share: float | None
    authenticity_level: int | None  # 1, 2 or 3 (policy/measures.toml), live from the period's records
    # as the last quarterly evaluation graded it (network.upserted), when the networks service published one
    kind: str | None = None
    owner: str | None = None
    graded_in: str | None = None
    grade: str | None = None
    evaluated_authenticity_level: int | None = None
    network_class: str | None = None


class Evaluation(BaseModel):
    owner: str
    quarter: str
    scope: str | None
    evaluated_at: datetime
    networks: int | None
    networks_planned: int | None
    networks_developed: int | None
    development_completion: float | None
    development_rating: str | None
    records: int | None
    verified: int | None
    authenticity_share: float | None
    authenticity_rating: str | None
    class_counts: dict[str, int]
    details: dict[str, Any]  # the event's other fields (main/auxiliary sources, kinds present, ...), as published


class Networks(BaseModel):
    networks: list[NetworkRow]
    evaluations: list[Evaluation]


def _quarters(period: Period) -> list[str]:
    quarters, day = [], period.first
    while day <= period.last:
        quarter = containing("quarter", day)
        quarters.append(quarter.label())
        day = quarter.last.fromordinal(quarter.last.toordinal() + 1)
    return quarters


def _graded(row: NetworkRow, known: Any) -> None:
    row.kind, row.owner, row.graded_in = known["kind"], known["owner"], known["graded_in"]
    row.grade, row.network_class = known["grade"], known["network_class"]
    row.evaluated_authenticity_level = known["authenticity_level"]


async def network_view(
    session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime
) -> Networks:
    policy = measures_policy()
    received = measure_where("records_received", period, filters, scope, now=now)
    refused = measure_where("refused_at_intake", period, filters, scope, now=now)
    sql = f"""
        SELECT key, sum(received), sum(refused), sum(accepted), sum(verified) FROM (
            SELECT l.network_code AS key, count(*) AS received, 0 AS refused, count(l.accepted_at) AS accepted,
                   count(*) FILTER (WHERE l.accepted_at IS NOT NULL AND l.verified_at IS NOT NULL) AS verified
            FROM leads l WHERE {received.sql()} GROUP BY 1
            UNION ALL
            SELECT r.network_code, count(*), count(*), 0, 0 FROM refusals r WHERE {refused.sql()} GROUP BY 1
        ) AS n GROUP BY key ORDER BY sum(received) DESC, key NULLS LAST
    """
    rows = []
    for key, n_received, n_refused, accepted, verified in (
        await session.execute(text(sql), {**received.params, **refused.params})
    ).all():
        share = round(int(verified) / int(accepted), 4) if accepted else None
        rows.append(
            NetworkRow(
                network_code=key,
                records_received=int(n_received),
                refused_at_intake=int(n_refused),
                records_accepted=int(accepted),
                verified=int(verified),
                authenticity_share=share,
                authenticity_level=policy.authenticity_level(share),
            )
        )
    registered = {row["code"]: row for row in (await session.execute(text("SELECT * FROM networks"))).mappings().all()}
    for network in rows:
        known = registered.pop(network.network_code, None) if network.network_code else None
        if known is not None:
            _graded(network, known)
    if filters == Filters() and not scope.regions:
        for code, known in sorted(registered.items()):  # networks without records in the period
            empty = NetworkRow(
                network_code=code,
                records_received=0,
                refused_at_intake=0,
                records_accepted=0,
                verified=0,
                authenticity_share=None,
                authenticity_level=None,
            )
            _graded(empty, known)
            rows.append(empty)
    # Evaluations of the quarters the period touches. A regional caller sees the evaluations of dealers whose
    # territories reach into its regions, not HQ's national networks.
    evaluation_sql = (
        "SELECT n.*, d.territories FROM network_evaluations n LEFT JOIN dealers d ON d.code = n.owner "
        "WHERE n.quarter = ANY(CAST(:quarters AS text[])) ORDER BY n.quarter DESC, n.owner"
    )
    evaluations = []
    for row in (await session.execute(text(evaluation_sql), {"quarters": _quarters(period)})).mappings().all():
        if filters.dealer and row["owner"] != filters.dealer:
            continue
        territories = row["territories"] or []
        if scope.regions and not any(
            scope.covers(t) or any(r.startswith(t) for r in scope.regions) for t in territories
        ):
            continue
        if (
            filters.region
            and not any(t.startswith(filters.region) or filters.region.startswith(t) for t in territories)
            and row["owner"] != "HQ"
        ):
            continue
        payload = dict(row["payload"] or {})
        for field in (
            "owner",
            "quarter",
            "scope",
            "evaluated_at",
            "networks",
            "networks_planned",
            "networks_developed",
            "development_completion",
            "development_rating",
            "records",
            "verified",
            "authenticity_share",
            "authenticity_rating",
            "class_counts",
        ):
            payload.pop(field, None)
        evaluations.append(
            Evaluation(
                owner=row["owner"],
                quarter=row["quarter"],
                scope=row["scope"],
                evaluated_at=row["evaluated_at"],
                networks=row["networks"],
                networks_planned=row["networks_planned"],
                networks_developed=row["networks_developed"],
                development_completion=row["development_completion"],
                development_rating=row["development_rating"],
                records=row["records"],
                verified=row["verified"],
                authenticity_share=row["authenticity_share"],
                authenticity_rating=row["authenticity_rating"],
                class_counts=dict(row["class_counts"] or {}),
                details=payload,
            )
        )
    return Networks(networks=rows, evaluations=evaluations)
