"""The networks page: every information network's records in the period and how many of them have been verified
since (its live authenticity level, domain.md §1), and the quarterly evaluations HQ and the dealers' networks got
(`leadnet.network.evaluated`: grade classes such as "B-2", authenticity, development completion)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.facts import EVALUATED_FIELDS
from hq_console.filters import Filters, Scope
from hq_console.periods import Period, containing
from hq_console.repository import directory
from hq_console.repository.figures import received_and_refused
from hq_console.repository.measures import measure_where
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


_COUNTS = ("records_received", "refused_at_intake", "records_accepted", "verified")
# An evaluation's columns as the event named them; the event's other fields are its details.
_EVALUATION_COLUMNS = ("owner", "quarter", "scope", "evaluated_at", *(n for n, _ in EVALUATED_FIELDS), "class_counts")


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

    def network(code: str | None, *sums: Any) -> NetworkRow:
        counts = dict(zip(_COUNTS, (int(n) for n in sums), strict=True))
        accepted, verified = counts["records_accepted"], counts["verified"]
        share = round(verified / accepted, 4) if accepted else None
        return NetworkRow(
            network_code=code,
            **counts,
            authenticity_share=share,
            authenticity_level=policy.authenticity_level(share),
        )

    counted = await received_and_refused(
        session,
        key="l.network_code",
        leads=measure_where("records_received", period, filters, scope, now=now),
        refusals=measure_where("refused_at_intake", period, filters, scope, now=now),
        counts={
            "received": ("count(*)", "count(*)"),
            "refused": ("0", "count(*)"),
            "accepted": ("count(l.accepted_at)", "0"),
            "verified": ("count(*) FILTER (WHERE l.accepted_at IS NOT NULL AND l.verified_at IS NOT NULL)", "0"),
        },
    )
    rows = [network(*row) for row in counted]
    registered = dict(await directory.networks(session))
    for listed in rows:
        known = registered.pop(listed.network_code, None) if listed.network_code else None
        if known is not None:
            _graded(listed, known)
    if filters == Filters() and not scope.regions:
        for code, known in sorted(registered.items()):  # networks without records in the period
            empty = network(code, 0, 0, 0, 0)
            _graded(empty, known)
            rows.append(empty)
    # Evaluations of the quarters the period touches. A regional caller sees the evaluations of dealers whose
    # territories reach into its regions, not HQ's national networks.
    evaluations = []
    for row in await directory.evaluations(session, _quarters(period)):
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
        payload = {k: v for k, v in (row["payload"] or {}).items() if k not in _EVALUATION_COLUMNS}
        evaluations.append(
            Evaluation(
                **{column: row[column] for column in _EVALUATION_COLUMNS if column != "class_counts"},
                class_counts=dict(row["class_counts"] or {}),
                details=payload,
            )
        )
    return Networks(networks=rows, evaluations=evaluations)
