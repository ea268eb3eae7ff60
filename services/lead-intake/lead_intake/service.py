"""lead-intake rules around a record: save it with its event, wait for the verdict, answer the caller."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.models import IdempotencyKey, Lead
from lead_intake.records import NormalizedRecord
from lead_intake.repository import idempotency_keys, leads
from lead_intake.repository.idempotency_keys import KeyClaim
from lead_intake.repository.leads import Reassignment, Verdict
from leadnet_shared.auth import Principal
from leadnet_shared.db import Database
from leadnet_shared.events import LeadSubmitted
from leadnet_shared.group_commit import GroupCommitter
from leadnet_shared.masking import mask_address, mask_name, mask_phone
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.phone import phone_partition_key
from leadnet_shared.problems import Conflict, ValidationFailed


def request_hash(body: bytes, *, endpoint: str = "lead") -> str:
    """The body's fingerprint, per endpoint: one key sent to /v1/leads and then to /batch is a reuse."""
    prefix = b"" if endpoint == "lead" else endpoint.encode() + b"\0"
    return hashlib.sha256(prefix + body).hexdigest()


@dataclass(frozen=True, slots=True)
class LeadState:
    """What an answer about a lead is made of: from its row, or from the verdict notification (no re-read)."""

    lead_id: str
    status: str
    entered_by: str | None
    customer_id: str | None = None
    verdict: dict[str, Any] | None = None
    network_registered: bool | None = None
    assigned_dealer: str | None = None  # who may see it besides the entrant; not part of any answer

    @classmethod
    def of(cls, lead: Lead) -> LeadState:
        return cls(**{name: getattr(lead, name) for name in _STATE_FIELDS})

    def as_json(self) -> dict[str, Any]:
        """What the verdict notification carries (who else may see the lead is not part of it); spelt out, as it
        is built once per verdict on the consumer's hot path."""
        return {
            "lead_id": self.lead_id,
            "status": self.status,
            "entered_by": self.entered_by,
            "customer_id": self.customer_id,
            "verdict": self.verdict,
            "network_registered": self.network_registered,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeadState:
        return cls(**data)


_STATE_FIELDS = tuple(field.name for field in fields(LeadState))


@dataclass(frozen=True, slots=True)
class SubmittedLead:
    """A validated record ready to be saved: its row and its `lead.submitted` outbox entry."""

    row: dict[str, Any]
    event: Outgoing


def prepare_submitted_lead(
    *,
    principal: Principal,
    raw: Any,
    record: NormalizedRecord,
    now: datetime,
    topic_prefix: str,
    lead_id: str | None = None,
) -> SubmittedLead:
    """Build the lead row (raw and normalized) and its event; pure, so a batch builds a thousand without I/O."""
    lead_id = lead_id or str(uuid.uuid4())
    normalized = record.to_json_dict()
    normalized["product_line"] = record.product_line  # the line it is routed by, also for passive sources
    entered_by = principal.dealer if principal.role == "dealer" else None
    row = {
        "lead_id": lead_id,
        "entered_by": entered_by,
        "entered_by_role": principal.role,
        "caller_key": principal.caller_key,
        "source": record.source,
        "network_code": record.network_code,
        "raw": raw,
        "normalized": normalized,
        "status": "pending",
        "submitted_at": now,
    }
    event = LeadSubmitted(
        lead_id=lead_id,
        entered_by=entered_by,
        entered_by_role=principal.role,
        submitted_at=now,
        source=record.source,
        network_code=record.network_code,
        record=normalized,
    )
    return SubmittedLead(
        row=row,
        # One customer's submissions share a partition so the router sees them in order (no PII in the key).
        event=Outgoing(event, key=phone_partition_key(record.customer.phone), subject=lead_id),
    )


async def save_leads(session: AsyncSession, outbox: Outbox, submitted: Sequence[SubmittedLead]) -> None:
    """Insert the rows and their events in the caller's transaction (two multi-row statements, whatever the count).

    Each row records whether its network code is registered (`network_registered`, NULL when it names none): a
    record naming an unknown network is kept, never refused, but flagged and left out of the network's counts. A
    dealer may name only HQ's national networks and its own: another dealer's network counts as unknown for it (the
    record is kept; that network's grade is not skewed, and the answer does not tell that the code exists).
    """
    if not submitted:
        return
    await leads.insert_leads(session, [lead.row for lead in submitted])
    # Each event's time is its own record's: a group commit saves records from several requests.
    await outbox.write(session, [outbox.row(lead.event, time=lead.row["submitted_at"]) for lead in submitted])


@dataclass(frozen=True, slots=True)
class Submission:
    """One single-record request's write, as the group committer takes it: the lead and its key, if any."""

    lead: SubmittedLead
    caller_key: str
    idempotency_key: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    """The request that took an Idempotency-Key first: its lead and its final response once there is one."""

    lead_id: str | None
    status_code: int | None
    response: dict[str, Any] | None


async def save_submissions(
    session: AsyncSession, outbox: Outbox, submissions: list[Submission]
) -> list[Replay | ValidationFailed | None]:
    """Claim the keys of a group of single-record requests and save the leads of those that are first.

    Per submission: None when its lead was saved; the first request's `Replay` when its key was taken already
    (by an earlier request, or by one earlier in this group); a `ValidationFailed` when the key was taken with
    another body. Keys are claimed before the leads are written, in the same transaction, so one key has one
    effect however the requests are grouped.
    """
    outcomes: list[Replay | ValidationFailed | None] = [None] * len(submissions)
    keyed = [i for i, s in enumerate(submissions) if s.idempotency_key]
    firsts = await claim_keys(
        session,
        [
            KeyClaim(
                caller_key=submissions[i].caller_key,
                key=submissions[i].idempotency_key or "",
                body_hash=submissions[i].body_hash or "",
                lead_id=submissions[i].lead.row["lead_id"],
            )
            for i in keyed
        ],
    )
    for i, row in zip(keyed, firsts, strict=True):
        if row is not None:
            outcomes[i] = (
                Replay(lead_id=row.lead_id, status_code=row.status_code, response=row.response)
                if row.request_hash == submissions[i].body_hash
                else key_reused()
            )
    await save_leads(session, outbox, [s.lead for s, o in zip(submissions, outcomes, strict=True) if o is None])
    return outcomes


LeadCommitter = GroupCommitter[Submission, Replay | None]


def lead_committer(db: Database, outbox: Outbox, *, max_group: int, committers: int) -> LeadCommitter:
    """Single-record submissions saved in groups: one transaction for the requests that arrive together."""

    async def apply(session: AsyncSession, submissions: list[Submission]) -> list[Replay | ValidationFailed | None]:
        return await save_submissions(session, outbox, submissions)

    return GroupCommitter(name="leads", db=db, apply=apply, max_group=max_group, committers=committers)


def key_reused() -> ValidationFailed:
    return ValidationFailed(
        "This Idempotency-Key was used with a different request body.", code="idempotency_key_reused"
    )


def verdict_response(lead: Lead | LeadState) -> tuple[int, dict[str, Any]]:
    """The answer a caller gets for a lead in its current state."""
    state = LeadState.of(lead) if isinstance(lead, Lead) else lead
    verdict = state.verdict or {}
    if state.status == "rejected_duplicate":
        error = Conflict(
            "This dealer already has an open lead for this customer (existing_lead_id): the record was not saved as "
            "a lead. Only the refusal is kept, with the record masked, under lead_id.",
            code="duplicate_lead",
            extra={"existing_lead_id": verdict.get("existing_lead_id"), "lead_id": state.lead_id},
        )
        error.title = "Duplicate lead"
        return 409, error.to_problem(instance="/v1/leads")
    if state.status == "pending":
        return 202, {"lead_id": state.lead_id, "status": "pending"}
    warnings = list(verdict.get("warnings", []))
    if state.network_registered is False:
        warnings.append(
            {
                "code": "unknown_network",
                "message": "network_code names no information network registered by you or by HQ; the "
                "record is kept but not counted for any network",
            }
        )
    return 201, {
        "lead_id": state.lead_id,
        "customer_id": state.customer_id,
        "status": "accepted",
        "entered_by": state.entered_by,
        "assigned_dealer": verdict.get("assigned_dealer"),
        "authorized_dealer": verdict.get("authorized_dealer"),
        "cross_region": bool(verdict.get("cross_region", False)),
        "customer_existed": bool(verdict.get("customer_existed", False)),
        "protection_until": verdict.get("protection_until"),
        "warnings": warnings,
    }


async def lead_states(session: AsyncSession, lead_ids: Sequence[str]) -> dict[str, LeadState]:
    """Current states of many leads in one query (a batch's answers after its wait)."""
    if not lead_ids:
        return {}
    return {row.lead_id: LeadState(**row._asdict()) for row in await leads.states(session, lead_ids)}


async def claim_keys(session: AsyncSession, claims: list[KeyClaim]) -> list[IdempotencyKey | None]:
    """Take each request's key, or find the row of the request that took it first; one statement for all.

    Per claim: None when it took the key (the request goes ahead); else the first request's row, whose hash the
    caller compares. Two concurrent requests with one key: the second's insert waits on the first's uncommitted
    row, then skips it, so one key has one effect; two claims of one key in one list: the first in list order
    wins. Each claim is in the same transaction as what the request saves: both exist or neither.
    """
    if not claims:
        return []
    won = await idempotency_keys.claim(session, claims)
    lost = {(c.caller_key, c.key) for c in claims if (c.caller_key, c.key, c.lead_id) not in won}
    first = await idempotency_keys.first_claims(session, lost) if lost else {}
    return [None if (c.caller_key, c.key, c.lead_id) in won else first[(c.caller_key, c.key)] for c in claims]


async def claim_idempotency_key(
    session: AsyncSession,
    *,
    caller_key: str,
    key: str,
    body_hash: str,
    lead_id: str | None,
    batch_items: list[dict[str, Any]] | None = None,
) -> IdempotencyKey | None:
    """Take the key for this request (None), or return the row of the first request with the same body
    (a 422 `idempotency_key_reused` for another body)."""
    [existing] = await claim_keys(
        session,
        [KeyClaim(caller_key=caller_key, key=key, body_hash=body_hash, lead_id=lead_id, batch_items=batch_items)],
    )
    if existing is not None and existing.request_hash != body_hash:
        raise key_reused()
    return existing


def masked_record(record: dict[str, Any], *, unmasked: bool) -> dict[str, Any]:
    if unmasked:
        return record
    copy = orjson.loads(orjson.dumps(record))
    customer = copy.get("customer") or {}
    customer["name"] = mask_name(customer.get("name"))
    customer["phone"] = mask_phone(customer.get("phone"))
    customer["address"] = mask_address(customer.get("address"), customer.get("region_code"))
    return dict(copy)


# pg_notify payloads are limited to 8000 bytes; a larger verdict is announced by id and read from the table.
NOTIFY_LIMIT = 7500


def _notification(state: LeadState) -> str:
    payload = orjson.dumps(state.as_json()).decode()
    return payload if len(payload.encode()) <= NOTIFY_LIMIT else state.lead_id


async def apply_verdicts(session: AsyncSession, verdicts: list[Verdict]) -> int:
    """Apply a poll's verdicts (distinct leads) in one UPDATE and wake every waiter in one NOTIFY statement; a newer
    status already stored (a reassignment that arrived first) is kept.

    A request waits on its verdict while the consumer works through its poll; one statement for the poll instead
    of several per verdict is what keeps that wait short under load.
    """
    if not verdicts:
        return 0
    rows = await leads.apply_verdicts(session, verdicts)
    by_id = {v.lead_id: v for v in verdicts}
    states = [
        LeadState(
            lead_id=lead_id,
            status=status,
            entered_by=entered_by,
            customer_id=by_id[lead_id].customer_id,
            verdict=by_id[lead_id].verdict,
            network_registered=registered,
        )
        for lead_id, entered_by, registered, status in rows
    ]
    if states:
        await remember_responses_and_notify(session, states)
    return len(rows)


async def apply_reassignments(session: AsyncSession, reassignments: list[Reassignment]) -> None:
    """Move leads (distinct) to their new dealers in one UPDATE, unless a newer fact is stored already."""
    if reassignments:
        await leads.apply_reassignments(session, reassignments)


async def remember_responses_and_notify(session: AsyncSession, states: list[LeadState]) -> None:
    """Keep each keyed request's first final response, written with the verdict itself, and wake the waiters.

    The answer a waiting request is about to send is the one a replay must get; writing it here, in the verdict's
    transaction, keeps it even when the caller went away, and costs the request no write of its own. A 202 is not
    final, so a request answered 202 gets its verdict remembered when it comes. Batch keys replay per record.
    """
    answers = [(state.lead_id, *verdict_response(state)) for state in states]
    await idempotency_keys.remember_and_notify(
        session,
        lead_ids=[a[0] for a in answers],
        status_codes=[a[1] for a in answers],
        responses=[orjson.dumps(a[2]).decode() for a in answers],
        notifications=[_notification(state) for state in states],
    )


async def keep_refusals_masked(session: AsyncSession, lead_ids: Sequence[str]) -> None:
    """A duplicate is not saved (domain.md §3): of a refused record only the refusal stays, as an audit row whose
    record is masked like the entrant sees it, so the 409's "not saved as a lead" and the stored row agree."""
    if not lead_ids:
        return
    for lead in await leads.leads_for_update(session, lead_ids, status="rejected_duplicate"):
        masked = masked_record(lead.normalized, unmasked=False)
        lead.normalized, lead.raw = masked, {"masked": True, "record": masked}


async def purge_idempotency_keys(session: AsyncSession, *, older_than: datetime) -> int:
    """Keys are kept for the TTL (contract: at least 24 h), then forgotten."""
    return await idempotency_keys.purge(session, older_than=older_than)
