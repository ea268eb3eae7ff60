"""lead-intake rules around a record: save it with its event, wait for the verdict, answer the caller."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.models import IdempotencyKey, Lead
from lead_intake.records import NormalizedRecord
from leadnet_shared.auth import Principal
from leadnet_shared.db import Database, execute, fetch, json_text
from leadnet_shared.events import LeadSubmitted
from leadnet_shared.group_commit import GroupCommitter
from leadnet_shared.masking import mask_address, mask_name, mask_phone
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.phone import phone_partition_key
from leadnet_shared.problems import Conflict, ValidationFailed


def partition_key_for_phone(phone_e164: str) -> str:
    """One customer's submissions share a partition so the router sees them in order (no PII in the key)."""
    return phone_partition_key(phone_e164)


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
        return cls(
            lead_id=lead.lead_id,
            status=lead.status,
            entered_by=lead.entered_by,
            customer_id=lead.customer_id,
            verdict=lead.verdict,
            network_registered=lead.network_registered,
            assigned_dealer=lead.assigned_dealer,
        )

    def as_json(self) -> dict[str, Any]:
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
        event=Outgoing(event, key=partition_key_for_phone(record.customer.phone), subject=lead_id),
    )


async def save_leads(session: AsyncSession, outbox: Outbox, leads: Sequence[SubmittedLead]) -> None:
    """Insert the rows and their events in the caller's transaction (two multi-row statements, whatever the count).

    Each row records whether its network code is registered (`network_registered`, NULL when it names none): a
    record naming an unknown network is kept, never refused, but flagged and left out of the network's counts. A
    dealer may name only HQ's national networks and its own: another dealer's network counts as unknown for it (the
    record is kept; that network's grade is not skewed, and the answer does not tell that the code exists).
    """
    if not leads:
        return
    rows = [lead.row for lead in leads]
    await execute(
        session,
        INSERT_LEADS_SQL,
        [row["lead_id"] for row in rows],
        [row["entered_by"] for row in rows],
        [row["entered_by_role"] for row in rows],
        [row["caller_key"] for row in rows],
        [row["source"] for row in rows],
        [row["network_code"] for row in rows],
        [json_text(row["raw"]) for row in rows],
        [json_text(row["normalized"]) for row in rows],
        [row["status"] for row in rows],
        [row["submitted_at"] for row in rows],
    )
    # Each event's time is its own record's: a group commit saves records from several requests.
    await outbox.write(session, [outbox.row(lead.event, time=lead.row["submitted_at"]) for lead in leads])


# One statement over arrays for any number of leads: the ORM's insert bound every row's JSONB one by one, a
# visible share of a bulk batch. Whether the network is registered is looked up in the same statement: a lookup
# of its own was one more round trip per group commit, and at moderate load every record has a group of its own.
# Like every statement of the hot paths here, it is sent on the asyncpg connection (see `db.execute`).
INSERT_LEADS_SQL = (
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


# The statements of the hot paths, sent on the asyncpg connection in the caller's transaction (see `db.execute`):
# cheaper than through SQLAlchemy, paid per group commit and per verdict poll (docs/performance.md, "Raw asyncpg lane").
CLAIM_KEYS_SQL = (
    "INSERT INTO idempotency_keys (caller_key, key, request_hash, lead_id, batch_items) "
    "SELECT c, k, h, l, CAST(i AS jsonb) FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), "
    "CAST($3 AS text[]), CAST($4 AS text[]), CAST($5 AS text[])) AS t(c, k, h, l, i) "
    "ON CONFLICT DO NOTHING RETURNING caller_key, key, lead_id"
)
# The verdict (customer, warnings) is always recorded; status and dealer only if no newer fact (a reassignment that
# overtook the verdict, review M4) is stored already; a closed or returned lead keeps showing so (life_cycle.py).
# RETURNING gives the status as stored, which the waiter gets.
APPLY_VERDICTS_SQL = (
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
APPLY_REASSIGNMENTS_SQL = (
    "UPDATE leads AS l SET status = CASE WHEN l.closed_at IS NOT NULL THEN 'closed' "
    "WHEN l.return_round > l.reopen_round THEN 'returned' ELSE 'reassigned' END, "
    "assigned_dealer = v.to_dealer, lead_version = v.lead_version, "
    "updated_at = now() "
    "FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS int[])) AS v(lead_id, to_dealer, lead_version) "
    "WHERE l.lead_id = v.lead_id AND l.lead_version <= v.lead_version"
)
# Remembering the keyed requests' responses and waking the waiters are one statement, one round trip per poll:
# a data-modifying WITH runs whether or not the outer SELECT reads it, and both take effect at the commit.
REMEMBER_AND_NOTIFY_SQL = (
    "WITH remembered AS ("
    "UPDATE idempotency_keys AS k SET status_code = a.status_code, response = CAST(a.response AS jsonb) "
    "FROM unnest(CAST($1 AS text[]), CAST($2 AS int[]), CAST($3 AS text[])) "
    "AS a(lead_id, status_code, response) "
    "WHERE k.lead_id = a.lead_id AND k.status_code IS NULL AND k.batch_items IS NULL) "
    "SELECT pg_notify('lead_verdict', p) FROM unnest(CAST($4 AS text[])) AS p"
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
    rows = await session.execute(
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
    return {
        r.lead_id: LeadState(
            lead_id=r.lead_id,
            status=r.status,
            entered_by=r.entered_by,
            customer_id=r.customer_id,
            verdict=r.verdict,
            network_registered=r.network_registered,
            assigned_dealer=r.assigned_dealer,
        )
        for r in rows
    }


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """A request taking its Idempotency-Key: the lead it saves (single record) or its per-record items (batch)."""

    caller_key: str
    key: str
    body_hash: str
    lead_id: str | None = None
    batch_items: list[dict[str, Any]] | None = None


async def claim_keys(session: AsyncSession, claims: list[KeyClaim]) -> list[IdempotencyKey | None]:
    """Take each request's key, or find the row of the request that took it first; one statement for all.

    Per claim: None when it took the key (the request goes ahead); else the first request's row, whose hash the
    caller compares. Two concurrent requests with one key: the second's insert waits on the first's uncommitted
    row, then skips it, so one key has one effect; two claims of one key in one list: the first in list order
    wins. Each claim is in the same transaction as what the request saves: both exist or neither.
    """
    if not claims:
        return []
    won = {
        tuple(row)
        for row in await fetch(
            session,
            CLAIM_KEYS_SQL,
            [c.caller_key for c in claims],
            [c.key for c in claims],
            [c.body_hash for c in claims],
            [c.lead_id for c in claims],
            [None if c.batch_items is None else json_text(c.batch_items) for c in claims],
        )
    }
    lost = [c for c in claims if (c.caller_key, c.key, c.lead_id) not in won]
    first: dict[tuple[str, str], IdempotencyKey] = {}
    if lost:
        rows = await session.execute(
            select(IdempotencyKey).where(
                tuple_(IdempotencyKey.caller_key, IdempotencyKey.key).in_({(c.caller_key, c.key) for c in lost})
            )
        )
        first = {(r.caller_key, r.key): r for r in rows.scalars()}
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
    rows = await fetch(
        session,
        APPLY_VERDICTS_SQL,
        [v.lead_id for v in verdicts],
        [v.status for v in verdicts],
        [v.customer_id for v in verdicts],
        [v.assigned_dealer for v in verdicts],
        [orjson.dumps(v.verdict).decode() for v in verdicts],
        [v.lead_version for v in verdicts],
    )
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
        await execute(
            session,
            APPLY_REASSIGNMENTS_SQL,
            [r.lead_id for r in reassignments],
            [r.to_dealer for r in reassignments],
            [r.lead_version for r in reassignments],
        )


async def remember_responses_and_notify(session: AsyncSession, states: list[LeadState]) -> None:
    """Keep each keyed request's first final response, written with the verdict itself, and wake the waiters.

    The answer a waiting request is about to send is the one a replay must get; writing it here, in the verdict's
    transaction, keeps it even when the caller went away, and costs the request no write of its own. A 202 is not
    final, so a request answered 202 gets its verdict remembered when it comes. Batch keys replay per record.
    """
    answers = [(state.lead_id, *verdict_response(state)) for state in states]
    await fetch(
        session,
        REMEMBER_AND_NOTIFY_SQL,
        [a[0] for a in answers],
        [a[1] for a in answers],
        [orjson.dumps(a[2]).decode() for a in answers],
        [_notification(state) for state in states],
    )


async def keep_refusals_masked(session: AsyncSession, lead_ids: Sequence[str]) -> None:
    """A duplicate is not saved (domain.md §3): of a refused record only the refusal stays, as an audit row whose
    record is masked like the entrant sees it, so the 409's "not saved as a lead" and the stored row agree."""
    if not lead_ids:
        return
    rows = await session.execute(
        select(Lead).where(Lead.lead_id.in_(sorted(lead_ids)), Lead.status == "rejected_duplicate").with_for_update()
    )
    for lead in rows.scalars():
        masked = masked_record(lead.normalized, unmasked=False)
        lead.normalized, lead.raw = masked, {"masked": True, "record": masked}


async def mark_verified(session: AsyncSession, *, lead_id: str, verified_at: datetime) -> bool:
    """The first verification counts (for the network's authenticity); later ones change nothing."""
    result = await session.execute(
        update(Lead).where(Lead.lead_id == lead_id, Lead.verified_at.is_(None)).values(verified_at=verified_at)
    )
    return bool(getattr(result, "rowcount", 0))


async def purge_idempotency_keys(session: AsyncSession, *, older_than: datetime) -> int:
    """Keys are kept for the TTL (contract: at least 24 h), then forgotten."""
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
