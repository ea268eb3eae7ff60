"""Records intake refuses leave a trace: `leadnet.lead.refused`, one per refused record, for HQ's collection quality.

A 422 saved nothing, so no other event ever said it happened; HQ grades dealers and networks by what they supply
"to quality" (domain.md §1, policy `refusals.toml`). The event names who submitted it (the token's dealer), the
source and network when they are codes, and each problem's code and field pointer; never a submitted value.

Two ways out, both through the outbox:
- a record refused inside a batch is written in the batch's own transaction (`batch_refusals`): it costs one row in
  a transaction that runs anyway;
- a single `POST /v1/leads` refused is queued in memory (`RefusalQueue.add`, no I/O) and written with the others
  by the `lead-refusals` worker every `flush_interval_seconds`: a refused request stays as cheap as it was. The
  price: refusals queued when a replica dies (at most that interval's) are not counted.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import Counter

from lead_intake.records import RECORD_FIELD_NAMES, enum_code
from leadnet_shared.auth import Principal
from leadnet_shared.events import LeadRefused, RefusalProblem
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.policy import PolicyError, cached_policy
from leadnet_shared.problems import FieldProblem

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from leadnet_shared.app import Runtime

log = logging.getLogger(__name__)

POLICY_PACKAGE = "lead_intake"
POLICY_NAME = "refusals"
HQ_KEY = "HQ"  # the Kafka key of HQ's own refused records (they have no dealer)
_HIDDEN = "*"  # a pointer segment that was not a field name of the record's shape
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_INDEX = re.compile(r"^[0-9]{1,4}$")
_ADCODE = re.compile(r"^[1-8][0-9]{5}$")

REFUSALS_DROPPED = Counter(
    "leadnet_intake_refusals_dropped_total", "Refusals of single records dropped because too many waited"
)


@dataclass(frozen=True, slots=True)
class RefusalRules:
    version: str
    network_code: re.Pattern[str]
    max_problems: int
    flush_interval_seconds: float
    flush_batch: int
    max_waiting: int


@cache
def refusal_rules() -> RefusalRules:
    data = cached_policy(POLICY_PACKAGE, POLICY_NAME)
    try:
        rules = RefusalRules(
            version=str(data["version"]),
            network_code=re.compile(str(data["network_code_pattern"])),
            max_problems=int(data["max_problems"]),
            flush_interval_seconds=float(data["flush_interval_seconds"]),
            flush_batch=int(data["flush_batch"]),
            max_waiting=int(data["max_waiting"]),
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise PolicyError(f"{POLICY_NAME}.toml: {exc}") from exc
    if rules.max_problems < 1 or rules.flush_batch < 1 or rules.max_waiting < 1 or rules.flush_interval_seconds <= 0:
        raise PolicyError(f"{POLICY_NAME}.toml: limits must be positive")
    return rules


def masked_pointer(pointer: str) -> str:
    """The pointer with every segment that is not a field name of the record (or a small index) hidden: an unknown
    field's name is something the caller typed, and may be anything."""
    if not pointer:
        return pointer
    segments = pointer.split("/")[1:]
    kept = []
    for raw in segments:
        segment = raw.replace("~1", "/").replace("~0", "~")
        kept.append(raw if segment in RECORD_FIELD_NAMES or _INDEX.match(segment) else _HIDDEN)
    return "/" + "/".join(kept)


def _network_code(raw: Any, rules: RefusalRules) -> str | None:
    code = raw.get("network_code") if isinstance(raw, dict) else None
    return code if isinstance(code, str) and rules.network_code.match(code) else None


def _block(raw: Any, name: str) -> dict[str, Any]:
    block = raw.get(name) if isinstance(raw, dict) else None
    return block if isinstance(block, dict) else {}


def refusal(
    *,
    principal: Principal,
    raw: Any,
    source: str | None,
    problems: Sequence[FieldProblem],
    status: int,
    channel: Literal["single", "batch"],
    now: datetime,
    batch_index: int | None = None,
) -> LeadRefused:
    """The event of one refused record. Built without validation (on the request path): every value is a code
    checked here, a dealer code from a verified token, or a number."""
    rules = refusal_rules()
    customer, intent = _block(raw, "customer"), _block(raw, "purchase_intent")
    region = customer.get("region_code")
    return LeadRefused.model_construct(
        refusal_id=str(uuid.uuid4()),
        entered_by=principal.dealer if principal.role == "dealer" else None,
        entered_by_role=principal.role,
        source=source,
        network_code=_network_code(raw, rules),
        region_code=region if isinstance(region, str) and _ADCODE.match(region) else None,
        product_line=enum_code("product_line", intent.get("product_line")),
        tier=enum_code("tier", customer.get("tier")),
        channel=channel,
        batch_index=batch_index,
        status=status,
        problems=[
            RefusalProblem.model_construct(
                field=masked_pointer(p.field), code=p.code if _CODE.match(p.code) else "invalid"
            )
            for p in problems[: rules.max_problems]
        ],
        problems_total=len(problems),
        refused_at=now,
    )


def outgoing(event: LeadRefused) -> Outgoing:
    """Keyed by the entrant (contract.md "Events": dealer code for dealer events): it has no customer."""
    key = event.entered_by or HQ_KEY
    return Outgoing(event, key=key, subject=key)


async def write_refusals(session: AsyncSession, outbox: Outbox, events: Sequence[LeadRefused]) -> None:
    """Into the outbox in the caller's transaction, each at the time it was refused."""
    await outbox.write(session, [outbox.row(outgoing(e), time=e.refused_at) for e in events])


class RefusalQueue:
    """Refusals of single records waiting to be written (bounded: the oldest are dropped past `max_waiting`)."""

    def __init__(self, *, max_waiting: int | None = None) -> None:
        self.waiting: deque[LeadRefused] = deque()
        self.max_waiting = max_waiting or refusal_rules().max_waiting

    def add(self, event: LeadRefused) -> None:
        self.waiting.append(event)
        if len(self.waiting) > self.max_waiting:
            self.waiting.popleft()
            REFUSALS_DROPPED.inc()

    def take(self, limit: int) -> list[LeadRefused]:
        return [self.waiting.popleft() for _ in range(min(limit, len(self.waiting)))]

    async def flush(self, runtime: Runtime) -> int:
        """Write what waits, a batch per transaction; a failed write puts its batch back in front."""
        rules = refusal_rules()
        written = 0
        while self.waiting:
            batch = self.take(rules.flush_batch)
            try:
                async with runtime.db.transaction() as session:
                    await write_refusals(session, runtime.outbox, batch)
            except BaseException:
                self.waiting.extendleft(reversed(batch))
                raise
            written += len(batch)
        return written
