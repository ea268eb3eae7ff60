"""Events: the CloudEvents 1.0 envelope, the topic catalogue and the typed payload of every event type.

These models are the contract between the services (and, for `leadnet.public.*`, with HQ dashboards). Producers
build them; consumers validate what they receive against them and tolerate unknown fields and unknown types.
JSON schemas generated from these models are kept in `leadnet_shared/schemas/` and checked by a test.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python

SPECVERSION = "1.0"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    cleanup: Literal["delete", "compact"]
    retention_days: int | None
    public: bool


LEADS_INTERNAL = "leadnet.internal.leads.v1"
DEAD_LETTERS = "leadnet.internal.dlq.v1"
LEADS = "leadnet.public.leads.v1"
CUSTOMERS = "leadnet.public.customers.v1"
DEALERS = "leadnet.public.dealers.v1"
TASKS = "leadnet.public.tasks.v1"
SALES = "leadnet.public.sales.v1"
LEDGER = "leadnet.public.ledger.v1"

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(LEADS_INTERNAL, "delete", 7, public=False),
    TopicSpec(DEAD_LETTERS, "delete", 30, public=False),
    TopicSpec(LEADS, "delete", 30, public=True),
    TopicSpec(CUSTOMERS, "compact", None, public=True),
    TopicSpec(DEALERS, "compact", None, public=True),
    TopicSpec(TASKS, "delete", 30, public=True),
    TopicSpec(SALES, "delete", 30, public=True),
    TopicSpec(LEDGER, "delete", 400, public=True),
)


class Envelope(BaseModel):
    """A CloudEvents 1.0 structured-mode event."""

    model_config = ConfigDict(extra="allow")

    specversion: str = SPECVERSION
    id: str
    type: str
    source: str
    time: datetime
    subject: str | None = None
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        """The JSON of `model_dump(mode="json", exclude_none=True)`, without walking `data` through pydantic.

        Every event leaving a service is serialized here; the record inside a `lead.submitted` made pydantic's
        walk a visible share of a bulk batch's time, while `data` is plain JSON already (see `make_envelope`).
        """
        head = {"specversion": self.specversion, "id": self.id, "type": self.type, "source": self.source,
                "time": self.time, "subject": self.subject, "datacontenttype": self.datacontenttype,
                "dataschema": self.dataschema, "data": self.data, **(self.__pydantic_extra__ or {})}
        return orjson.dumps({k: v for k, v in head.items() if v is not None}, option=orjson.OPT_UTC_Z,
                            default=to_jsonable_python)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate(orjson.loads(raw))


def new_event_id() -> str:
    return str(uuid.uuid4())


class EventData(BaseModel):
    """Base of every payload: consumers must tolerate fields they do not know."""

    model_config = ConfigDict(extra="allow")


def make_envelope(*, data: EventData, event_type: str, source: str, time: datetime, subject: str | None,
                  event_id: str | None = None) -> Envelope:
    # Built without validation: `data` is a validated payload dumped to plain JSON just here, and validating that
    # dump again walked every record inside a lead.submitted (about a tenth of the router's time per decision).
    return Envelope.model_construct(
        id=event_id or new_event_id(),
        type=event_type,
        source=source,
        time=time,
        subject=subject,
        dataschema=f"/schemas/{event_type}/v1",
        data=data.model_dump(mode="json"),
    )


class MaskedCustomer(BaseModel):
    name: str | None = None
    phone: str | None = None
    address: str | None = None


class Warning_(BaseModel):
    code: str
    message: str
    # possible_duplicate only: which keys matched (name_county, fleet_city) and how strongly (0..1); no PII.
    matched: list[str] | None = None
    strength: float | None = None


# ---- leadnet.internal.leads.v1 -------------------------------------------------------------------------------

class LeadSubmitted(EventData):
    """A record intake saved; carries personal data, so it only travels on the internal topic."""

    lead_id: str
    entered_by: str | None  # dealer code; None when HQ collected it
    entered_by_role: str
    submitted_at: datetime
    source: str
    network_code: str | None = None
    record: dict[str, Any]  # the normalized record (customer block with full phone, name, address)


# ---- leadnet.public.leads.v1 ---------------------------------------------------------------------------------

class LeadFacts(EventData):
    """What every public lead event repeats so consumers need no join: ids, dealers and rule inputs, no PII."""

    lead_id: str
    customer_id: str
    entered_by: str | None = None
    assigned_dealer: str | None = None
    authorized_dealer: str | None = None
    cross_region: bool = False
    reward_eligible: bool = False  # a cross-region retail record entered by a dealer (domain.md §3)
    tier: str = "retail"
    nature: str = "new"
    region_code: str | None = None
    product_line: str | None = None
    horizon: str | None = None
    source: str | None = None
    network_code: str | None = None
    lead_version: int = 0  # the router's change count (1 accepted, +1 per reassignment); older facts lose; 0: unset


class FleetLine(BaseModel):
    """One line of a customer's vehicles in use, without personal data (domain.md §2 在用車)."""

    brand: str | None = None
    model: str | None = None
    quantity: int = 0


class LeadAccepted(LeadFacts):
    customer_existed: bool = False
    protection_until: datetime | None = None
    accepted_at: datetime
    rule: str | None = None
    warnings: list[Warning_] = Field(default_factory=list)
    customer: MaskedCustomer = Field(default_factory=MaskedCustomer)
    # The record's vehicles in use (brand, model, quantity), for the scheduler's repurchase reminders (§6).
    fleet: list[FleetLine] | None = None


class LeadRejected(EventData):
    lead_id: str
    customer_id: str | None = None
    entered_by: str | None = None
    reason: str  # duplicate_lead
    existing_lead_id: str | None = None
    rejected_at: datetime


class LeadReassigned(LeadFacts):
    from_dealer: str | None = None
    to_dealer: str | None = None
    reason: str  # protection_expired | dealer_withdrawn
    reassigned_at: datetime


class LeadVerified(LeadFacts):
    verified_at: datetime
    task_id: str | None = None


class LeadClosed(LeadFacts):
    reason: str  # invalid_information | ...
    closed_at: datetime


# ---- leadnet.public.customers.v1 / dealers.v1 ----------------------------------------------------------------

class CustomerUpserted(EventData):
    customer_id: str
    customer: MaskedCustomer
    region_code: str | None = None
    tier: str = "retail"
    assigned_dealer: str | None = None
    protected_by: str | None = None
    protection_until: datetime | None = None
    updated_at: datetime


class DealerUpserted(EventData):
    code: str
    name: str
    territories: list[str]
    product_lines: list[str]
    capability: int
    sales_level: str | None = None
    status: str = "active"
    updated_at: datetime


class DealerWithdrawn(EventData):
    code: str
    withdrawn_at: datetime
    reassigned: int = 0
    unplaced: int = 0


# ---- leadnet.public.tasks.v1 ---------------------------------------------------------------------------------

class TaskEvent(EventData):
    task_id: str
    lead_id: str | None = None
    customer_id: str | None = None
    dealer: str | None = None
    kind: str
    due_at: datetime
    status: str
    reason: str | None = None
    outcome: str | None = None
    occurred_at: datetime


class PlanReminder(EventData):
    """A dealer's plan is due soon (domain.md "Deadlines in one place": the 30th, every Friday)."""

    dealer: str
    plan: str  # callback (next month's callback plan) | promotion (next week's promotion plan)
    period: str  # the planned period: yyyy-mm, or yyyy-Www for a week
    deadline_day: date  # Asia/Shanghai business date the plan is due by (end of that day)
    due_by: datetime
    days_before: int
    remind_at: datetime
    occurred_at: datetime


# ---- leadnet.public.sales.v1 ---------------------------------------------------------------------------------

class SoldVehicle(BaseModel):
    vin: str
    model: str | None = None
    product_line: str | None = None


class RewardClaim(BaseModel):
    """A reward the attribution says is due; the ledger decides amounts from its policy and posts it once."""

    kind: str  # purchase_reward | profit_guarantee
    dealer: str
    vin: str | None = None
    product_line: str | None = None
    amount_fen: int | None = None


class SaleAttributed(EventData):
    sale_id: str
    customer_id: str
    seller: str
    supplied_by: str | None = None
    attributed_lead_id: str | None = None
    lead_entered_by: str | None = None
    lead_cross_region: bool = False
    lead_tier: str | None = None
    lead_verified: bool = False
    credited_dealer: str | None = None
    cross_region_exempt: bool = False
    violation: str | None = None
    sold_at: datetime
    vehicles: list[SoldVehicle]
    rewards: list[RewardClaim] = Field(default_factory=list)


class SaleCancelled(EventData):
    sale_id: str
    customer_id: str
    cancelled_at: datetime


# ---- leadnet.public.ledger.v1 --------------------------------------------------------------------------------

class EntryPosted(EventData):
    entry_id: str
    kind: str
    dealer: str
    amount_fen: int
    lead_id: str | None = None
    sale_id: str | None = None
    vin: str | None = None
    reverses: str | None = None
    posted_at: datetime
    rule: str | None = None


EVENT_TYPES: dict[str, type[EventData]] = {
    "leadnet.lead.submitted": LeadSubmitted,
    "leadnet.lead.accepted": LeadAccepted,
    "leadnet.lead.rejected": LeadRejected,
    "leadnet.lead.reassigned": LeadReassigned,
    "leadnet.lead.verified": LeadVerified,
    "leadnet.lead.closed": LeadClosed,
    "leadnet.customer.upserted": CustomerUpserted,
    "leadnet.dealer.upserted": DealerUpserted,
    "leadnet.dealer.withdrawn": DealerWithdrawn,
    "leadnet.task.scheduled": TaskEvent,
    "leadnet.task.due": TaskEvent,
    "leadnet.task.completed": TaskEvent,
    "leadnet.task.overdue": TaskEvent,
    "leadnet.task.escalated": TaskEvent,
    "leadnet.plan.reminder": PlanReminder,
    "leadnet.sale.attributed": SaleAttributed,
    "leadnet.sale.cancelled": SaleCancelled,
    "leadnet.ledger.entry_posted": EntryPosted,
}

TOPIC_OF_TYPE: dict[str, str] = {
    "leadnet.lead.submitted": LEADS_INTERNAL,
    **{t: LEADS for t in EVENT_TYPES if t.startswith("leadnet.lead.") and t != "leadnet.lead.submitted"},
    "leadnet.customer.upserted": CUSTOMERS,
    "leadnet.dealer.upserted": DEALERS,
    "leadnet.dealer.withdrawn": DEALERS,
    **{t: TASKS for t in EVENT_TYPES if t.startswith("leadnet.task.")},
    "leadnet.plan.reminder": TASKS,
    "leadnet.sale.attributed": SALES,
    "leadnet.sale.cancelled": SALES,
    "leadnet.ledger.entry_posted": LEDGER,
}


def parse_data(envelope: Envelope) -> EventData:
    """The typed payload of a known event type (raises for unknown types: callers filter first)."""
    return EVENT_TYPES[envelope.type].model_validate(envelope.data)
