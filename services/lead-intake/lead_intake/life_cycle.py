"""Intake's side of a lead's life cycle (contract.md "Lead life cycle across the services").

`GET /v1/leads/{id}` shows what every service agrees on: `closed` once the scheduler closed the lead, `returned`
while HQ's return of round n is not answered by a re-check, and otherwise the router's verdict (`accepted`, or
`reassigned` once moved). The facts are kept as the kit combines them (`leadnet_shared.life_cycle`), so the status
does not depend on the order the events arrive in. HQ returns a record here (`return_lead`); the re-check's
corrections come back as `leadnet.lead.corrected` and become a new version of the record (`apply_corrections`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.models import Lead
from lead_intake.repository import leads
from leadnet_shared.events import LeadCorrected, LeadReturned, RecordCorrections
from leadnet_shared.life_cycle import Fact, LifeCycle
from leadnet_shared.outbox import Outbox
from leadnet_shared.problems import Conflict, NotFound
from leadnet_shared.redaction import redact_text

# The router's verdicts a lead can be returned from: a routed record, not a pending, refused or closed one.
RETURNABLE = frozenset({"accepted", "reassigned"})
LIFE_CYCLE_STATUSES = frozenset({"closed", "returned"})


def state_of(lead: Lead) -> LifeCycle:
    return LifeCycle(lead.closed_at, lead.closed_reason, lead.return_round, lead.reopen_round)


def shown_status(lead: Lead, state: LifeCycle) -> str:
    """The status a lead shows: the life cycle's when closed or returned, else the router's verdict (a lead that
    was returned and is reopened shows its verdict again: `accepted`, or `reassigned` if the router moved it)."""
    if state.status != "open":
        return state.status
    if lead.status in LIFE_CYCLE_STATUSES:
        return "reassigned" if lead.lead_version >= 2 else "accepted"
    return lead.status


def _set(lead: Lead, state: LifeCycle) -> None:
    lead.closed_at, lead.closed_reason = state.closed_at, state.closed_reason
    lead.return_round, lead.reopen_round = state.return_round, state.reopen_round
    lead.status = shown_status(lead, state)


async def apply_life_cycle(session: AsyncSession, facts: Sequence[tuple[str, Fact]], *, now: datetime) -> None:
    """A poll's closed / returned / reopened facts on the leads they name (rows locked in id order)."""
    by_lead: dict[str, list[Fact]] = {}
    for lead_id, fact in facts:
        by_lead.setdefault(lead_id, []).append(fact)
    if not by_lead:
        return
    for lead in await leads.leads_for_update(session, list(by_lead)):
        before = state_of(lead)
        state = before
        for fact in by_lead[lead.lead_id]:
            state = state.after(fact)
        if state != before:
            _set(lead, state)
            lead.updated_at = now
    await session.flush()


async def return_lead(session: AsyncSession, outbox: Outbox, *, lead_id: str, reason: str, now: datetime) -> Lead:
    """HQ returns a routed record as invalid (the seed's 客戶營銷部退回的無效信息): round n+1 of its returns;
    `leadnet.lead.returned` tells the scheduler to give the entrant a re-check task."""
    lead = await leads.lead(session, lead_id, for_update=True)
    if lead is None:
        raise NotFound("No such lead.")
    if lead.status not in RETURNABLE:
        raise Conflict(
            f"The lead is {lead.status}; only an accepted or reassigned lead can be returned.",
            code="lead_not_returnable",
        )
    state = LifeCycle(lead.closed_at, lead.closed_reason, lead.return_round + 1, lead.reopen_round)
    _set(lead, state)
    lead.updated_at = now
    verdict = lead.verdict or {}
    event = LeadReturned(
        lead_id=lead.lead_id,
        customer_id=lead.customer_id or "",
        entered_by=lead.entered_by,
        assigned_dealer=lead.assigned_dealer,
        authorized_dealer=verdict.get("authorized_dealer"),
        cross_region=bool(verdict.get("cross_region", False)),
        reward_eligible=bool(verdict.get("reward_eligible", False)),
        tier=verdict.get("tier") or "retail",
        nature=verdict.get("nature") or "new",
        region_code=verdict.get("region_code"),
        product_line=verdict.get("product_line"),
        horizon=verdict.get("horizon"),
        source=lead.source,
        network_code=lead.network_code,
        lead_version=lead.lead_version,
        return_round=state.return_round,
        reason=redact_text(reason),  # a public topic: HQ's words without phone numbers or street addresses
        returned_at=now,
    )
    await session.flush()
    await outbox.publish(session, event, key=event.customer_id, subject=event.customer_id, time=now)
    return lead


def corrected_record(record: dict[str, Any], corrections: dict[str, Any]) -> dict[str, Any]:
    """The record with a re-check's corrections: a corrected customer block is merged field by field, the other
    blocks are replaced whole (a list of vehicles is the list the dealer confirmed)."""
    new = copy.deepcopy(record)
    for block, value in corrections.items():
        if value is None:
            continue
        if block == "customer":
            new["customer"] = {**(new.get("customer") or {}), **value}
        else:
            new[block] = value
    intent = new.get("purchase_intent") or {}
    if intent.get("product_line"):
        new["product_line"] = intent["product_line"]
    return new


async def apply_corrections(session: AsyncSession, events: Sequence[LeadCorrected], *, now: datetime) -> None:
    """Each correction makes a new version of its record; the replaced version is kept with who and when."""
    if not events:
        return
    ids = list({e.lead_id for e in events})
    locked = {lead.lead_id: lead for lead in await leads.leads_for_update(session, ids)}
    for event in events:
        lead = locked.get(event.lead_id)
        if lead is None:
            continue
        # The blocks this version knows (a newer producer's extra block is left alone, not refused).
        corrections = {k: v for k, v in event.corrections.items() if k in RecordCorrections.model_fields and v}
        versions = list(lead.record_versions or [])
        if any(v.get("replaced_by_task") == event.task_id and event.task_id for v in versions):
            continue  # this re-check's correction is applied already
        versions.append(
            {
                "version": len(versions) + 1,
                "record": lead.normalized,
                "replaced_at": event.corrected_at.isoformat(),
                "replaced_by": event.corrected_by,
                "replaced_by_task": event.task_id,
                "return_round": event.return_round,
                "corrected": sorted(corrections),
            }
        )
        lead.record_versions = versions
        lead.normalized = corrected_record(lead.normalized, corrections)
        lead.updated_at = now
    await session.flush()
