"""The quarterly network evaluations (`network_evaluations`, one row per owner and quarter, claimed by its insert)
and the per-network quarter they are computed from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.network_models import NetworkEvaluation
from leadnet_shared.pagination import PageOf, PageParams, fetch_page

# Owners to evaluate: HQ, every owner of a network registered before the quarter ended, every dealer known before
# then, every owner with a development plan in the quarter; minus those already evaluated for the quarter.
_OWNERS = text(
    """
    SELECT owner FROM (
        SELECT CAST(:hq AS varchar) AS owner
        UNION SELECT owner FROM information_networks WHERE created_at < :end
        UNION SELECT code FROM dealers WHERE first_seen_at < :end
        UNION SELECT owner FROM network_development_plans WHERE quarter = :quarter
    ) o
    WHERE NOT EXISTS (SELECT 1 FROM network_evaluations e WHERE e.owner = o.owner AND e.quarter = :quarter)
    ORDER BY owner
    """
)
_EVALUATED = text("SELECT count(*) FROM network_evaluations WHERE quarter = :quarter")

# Per network of those owners: what it supplied in the quarter (records saved, refused duplicates apart), how many of
# them were verified true, on how many business days and in how many months it supplied (frequency), and how many
# records carried all four information blocks (quality).
_NETWORK_QUARTER = text(
    """
    SELECT n.code, n.owner, n.scope, n.kind, n.members, n.created_at,
           coalesce(a.records, 0), coalesce(a.verified, 0), coalesce(a.active_days, 0),
           coalesce(a.active_months, 0), coalesce(a.complete, 0), coalesce(a.duplicates, 0)
    FROM information_networks n
    LEFT JOIN (
        -- per network and business day first (one hash aggregate), then per network: cheaper than DISTINCT counts
        SELECT network_code, CAST(sum(records) AS bigint) AS records, CAST(sum(verified) AS bigint) AS verified,
               count(*) FILTER (WHERE records > 0) AS active_days,
               count(DISTINCT date_trunc('month', day)) FILTER (WHERE records > 0) AS active_months,
               CAST(sum(complete) AS bigint) AS complete, CAST(sum(duplicates) AS bigint) AS duplicates
        FROM (
            SELECT network_code, (submitted_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
                   count(*) FILTER (WHERE status <> 'rejected_duplicate') AS records,
                   count(verified_at) FILTER (WHERE status <> 'rejected_duplicate') AS verified,
                   count(*) FILTER (
                       WHERE status <> 'rejected_duplicate'
                         AND jsonb_typeof(normalized -> 'usage') = 'object'
                         AND jsonb_typeof(normalized -> 'purchase_intent') = 'object'
                         AND jsonb_typeof(normalized -> 'vehicles_in_use') = 'array'
                         AND jsonb_array_length(normalized -> 'vehicles_in_use') > 0
                   ) AS complete,
                   count(*) FILTER (WHERE status = 'rejected_duplicate') AS duplicates
            FROM leads
            WHERE network_code IS NOT NULL AND network_registered
              AND submitted_at >= :start AND submitted_at < :end
            GROUP BY network_code, day
        ) d
        GROUP BY network_code
    ) a ON a.network_code = n.code
    WHERE n.created_at < :end AND n.owner = ANY(:owners)
    ORDER BY n.owner, n.code
    """
)
_DEALER_PROFILES = text("SELECT code, sales_level, party_type FROM dealers WHERE code = ANY(:codes)")
# Networks planned in the quarter: its fixed-network plan plus its three monthly temporary-network plans.
_PLANNED = text(
    "SELECT owner, sum(planned_networks) FROM network_development_plans "
    "WHERE quarter = :quarter AND owner = ANY(:owners) GROUP BY owner"
)


async def owners_to_evaluate(session: AsyncSession, *, quarter: str, end: datetime, hq: str) -> tuple[list[str], int]:
    """The owners not yet evaluated for the quarter (by owner), and how many were evaluated before."""
    params = {"hq": hq, "end": end, "quarter": quarter}
    owners = [row[0] for row in (await session.execute(_OWNERS, params)).all()]
    return owners, int((await session.execute(_EVALUATED, params)).scalar_one())


async def network_quarters(
    session: AsyncSession, *, owners: list[str], start: datetime, end: datetime, work_mem: str
) -> Sequence[Any]:
    """Per network of these owners registered before `end`, by owner and code: code, owner, scope, kind, members,
    registered at, records, verified, active days, active months, complete records, duplicates refused. Aggregated
    with `work_mem` for this transaction (a quarter's records: in memory rather than in sorted temp files)."""
    await session.execute(text(f"SET LOCAL work_mem = '{work_mem}'"))
    return (await session.execute(_NETWORK_QUARTER, {"start": start, "end": end, "owners": owners})).all()


async def dealer_profiles(session: AsyncSession, codes: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """Per dealer known: its sales level and party type."""
    found = await session.execute(_DEALER_PROFILES, {"codes": codes})
    return {code: (level, party) for code, level, party in found.all()}


async def networks_planned(session: AsyncSession, *, quarter: str, owners: list[str]) -> dict[str, int]:
    """Per owner with a development plan in the quarter: the networks planned (fixed plus temporary)."""
    found = await session.execute(_PLANNED, {"quarter": quarter, "owners": owners})
    return {owner: int(total) for owner, total in found.all()}


async def claim(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the evaluations not stored yet (another run may have been first); the owners inserted now."""
    inserted = await session.execute(
        pg_insert(NetworkEvaluation).values(rows).on_conflict_do_nothing().returning(NetworkEvaluation.owner)
    )
    return {row[0] for row in inserted.all()}


async def page(
    session: AsyncSession, *, quarter: str, owner: str | None, params: PageParams
) -> PageOf[NetworkEvaluation]:
    """A page of the quarter's evaluations (one owner's only, if named) by owner; `updated_since` by evaluation
    time."""
    query = select(NetworkEvaluation).where(NetworkEvaluation.quarter == quarter)
    if owner is not None:
        query = query.where(NetworkEvaluation.owner == owner)
    return await fetch_page(
        session, query, order=[NetworkEvaluation.owner], params=params, changed_at=NetworkEvaluation.evaluated_at
    )
