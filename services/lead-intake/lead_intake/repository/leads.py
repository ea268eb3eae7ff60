"""The records (rows of `leads`): saved with their events, updated by the router's verdicts and reassignments and
by the life cycle, read back for answers. The statements of the hot paths (saving, verdicts) are sent on the asyncpg
lane in the caller's transaction (`leadnet_shared.db.execute`): cheaper than through SQLAlchemy, paid per group
commit and per verdict poll (docs/performance.md, "Raw asyncpg lane")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.models import Lead
from lead_intake.repository.common import columns
from leadnet_shared.db import execute, fetch, json_text

# One statement over arrays for any number of leads: the ORM's insert bound every row's JSONB one by one, a
# visible share of a bulk batch. Whether the network is registered is looked up in the same statement: a lookup
# of its own was one more round trip per group commit, and at moderate load every record has a group of its own.
_INSERT_LEADS = (
    "INSERT INTO leads (lead_id, entered_by, entered_by_role, caller_key, source, network_code, raw, normalized, "
    "status, submitted_at, network_registered) "
    "SELECT l.lead_id, l.entered_by, l.entered_by_role, l.caller_key, l.source, l.network_code, CAST(l.raw AS jsonb), "
    "CAST(l.normalized AS jsonb), l.status, l.submitted_at, "
    "CASE WHEN l.network_code IS NULL THEN NULL "
    "ELSE EXISTS (SELECT 1 FROM information_networks n WHERE n.code = l.network_code "
    "AND (n.owner = 'HQ' OR l.entered_by IS NULL OR n.owner = l.entered_by)) END "
    "FROM unnest(CAST($1 AS varchar[]), CAST($2 AS varchar[]), CAST($3 AS varchar[]), "
    "CAST($4 AS varchar[]), CAST($5 AS varchar[]), CAST($6 AS varchar[]), CAST($7 AS text[]), "
    "CAST($8 AS text[]), CAST($9 AS varchar[]), CAST($10 AS timestamptz[])) "
    "AS l(lead_id, entered_by, entered_by_role, caller_key, source, network_code, raw, normalized, status, "
    "submitted_at)"
)
_INSERTED_COLUMNS = ("lead_id", "entered_by", "entered_by_role", "caller_key", "source", "network_code")
# The verdict (customer, warnings) is always recorded; status and dealer only if no newer fact (a reassignment that
# overtook the verdict, review M4) is stored already; a closed or returned lead keeps showing so (life_cycle.py).
# RETURNING gives the status as stored, which the waiter gets.
_APPLY_VERDICTS = (
    "UPDATE leads AS l SET "
    "status = CASE WHEN l.closed_at IS NOT NULL THEN 'closed' WHEN l.return_round > l.reopen_round THEN 'returned' "
    "WHEN l.lead_version <= v.lead_version THEN v.status ELSE l.status END, "
    "assigned_dealer = CASE WHEN l.lead_version <= v.lead_version THEN v.assigned_dealer ELSE l.assigned_dealer END, "
    "lead_version = GREATEST(l.lead_version, v.lead_version), "
    "customer_id = v.customer_id, verdict = CAST(v.verdict AS jsonb), updated_at = now() "
    "FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS text[]), "
    "CAST($4 AS text[]), CAST($5 AS text[]), CAST($6 AS int[])) "
    "AS v(lead_id, status, customer_id, assigned_dealer, verdict, lead_version) "
    "WHERE l.lead_id = v.lead_id RETURNING l.lead_id, l.entered_by, l.network_registered, l.status"
)
_APPLY_REASSIGNMENTS = (
    "UPDATE leads AS l SET status = CASE WHEN l.closed_at IS NOT NULL THEN 'closed' "
    "WHEN l.return_round > l.reopen_round THEN 'returned' ELSE 'reassigned' END, "
    "assigned_dealer = v.to_dealer, lead_version = v.lead_version, "
    "updated_at = now() "
    "FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS int[])) AS v(lead_id, to_dealer, lead_version) "
    "WHERE l.lead_id = v.lead_id AND l.lead_version <= v.lead_version"
)


async def insert_leads(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the lead rows (two multi-row statements whatever the count, with the caller's outbox write);
    `network_registered` is set from the networks the entrant may name."""
    await execute(
        session,
        _INSERT_LEADS,
        *([row[column] for row in rows] for column in _INSERTED_COLUMNS),
        [json_text(row["raw"]) for row in rows],
        [json_text(row["normalized"]) for row in rows],
        [row["status"] for row in rows],
        [row["submitted_at"] for row in rows],
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The router's verdict on one lead, as the verdict consumer applies it."""

    lead_id: str
    status: str
    customer_id: str | None
    assigned_dealer: str | None
    verdict: dict[str, Any]
    lead_version: int = 0  # a rejection is never reassigned: unversioned


@dataclass(frozen=True, slots=True)
class Reassignment:
    """A lead moved to another dealer (or to the HQ queue) by the router, at its `lead_version`."""

    lead_id: str
    to_dealer: str | None
    lead_version: int


async def apply_verdicts(session: AsyncSession, verdicts: list[Verdict]) -> list[asyncpg.Record]:
    """Record a poll's verdicts (distinct leads) in one UPDATE; per lead updated: id, entrant, network registered,
    status as stored."""
    return await fetch(
        session,
        _APPLY_VERDICTS,
        *columns(verdicts, "lead_id", "status", "customer_id", "assigned_dealer"),
        [orjson.dumps(v.verdict).decode() for v in verdicts],
        [v.lead_version for v in verdicts],
    )


async def apply_reassignments(session: AsyncSession, reassignments: list[Reassignment]) -> None:
    """Move leads (distinct) to their new dealers in one UPDATE, unless a newer fact is stored already."""
    await execute(session, _APPLY_REASSIGNMENTS, *columns(reassignments, "lead_id", "to_dealer", "lead_version"))


async def states(session: AsyncSession, lead_ids: Sequence[str]) -> Sequence[Row[Any]]:
    """What an answer about each lead is made of, in one query."""
    found = await session.execute(
        select(
            Lead.lead_id,
            Lead.status,
            Lead.entered_by,
            Lead.customer_id,
            Lead.verdict,
            Lead.network_registered,
            Lead.assigned_dealer,
        ).where(Lead.lead_id.in_(list(lead_ids)))
    )
    return found.all()


async def lead(session: AsyncSession, lead_id: str, *, for_update: bool = False) -> Lead | None:
    """One lead (locked for the caller's transaction with `for_update`), or None."""
    query = select(Lead).where(Lead.lead_id == lead_id)
    return (await session.execute(query.with_for_update() if for_update else query)).scalar_one_or_none()


async def leads_for_update(session: AsyncSession, lead_ids: Sequence[str], *, status: str | None = None) -> list[Lead]:
    """The leads named (optionally only those in `status`), locked in id order so two transactions never deadlock."""
    query = select(Lead).where(Lead.lead_id.in_(sorted(lead_ids)))
    if status is not None:
        query = query.where(Lead.status == status)
    return list((await session.execute(query.order_by(Lead.lead_id).with_for_update())).scalars())


async def mark_verified(session: AsyncSession, *, lead_id: str, verified_at: datetime) -> bool:
    """Set the verification time unless one is set already; whether this one was the first."""
    result = await session.execute(
        update(Lead).where(Lead.lead_id == lead_id, Lead.verified_at.is_(None)).values(verified_at=verified_at)
    )
    return bool(getattr(result, "rowcount", 0))
