"""Events: the CloudEvents 1.0 envelope, the topic catalogue and the typed payload of every event type.

These models are the contract between the services (and, for `leadnet.public.*`, with HQ dashboards). Each event
type is one payload model with `type: Literal[...]`, a `version`, its topic and its aggregate; the catalogue
(`AnyEvent`, a discriminated union) is what `parse_event` reads with, and `Outbox.publish` is how one leaves a
service. Consumers tolerate unknown fields (kept, `extra="allow"`) and unknown types (`UnknownEventType`).

The discriminator is not on the wire: `data` is what it always was, and the type is the envelope's `type`, put
back into the payload only while parsing (`type` is excluded from every dump), so no consumer sees a new field.

Changing an event: a new optional field is compatible (no new version). A renamed or reshaped field raises the
model's `version` and registers an `upcaster(type, from_version=...)` that turns the old `data` into the new one;
a change old consumers cannot read needs a new `.v2` topic (contract.md "Events"). Then regenerate the JSON schemas
kept in `leadnet_shared/schemas/`: `python -m leadnet_shared.schemas` (a test fails while they differ).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import to_jsonable_python

SPECVERSION = "1.0"
# CloudEvents Kafka protocol binding, structured mode: the whole event is the message value and this header says
# so; without it an SDK that reads headers takes the message for a binary-mode event. The relay sends it.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
KAFKA_HEADERS: list[tuple[str, bytes]] = [("content-type", f"{STRUCTURED_CONTENT_TYPE}; charset=UTF-8".encode())]


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
NETWORKS = "leadnet.public.networks.v1"
PLANS = "leadnet.public.plans.v1"

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(LEADS_INTERNAL, "delete", 7, public=False),
    TopicSpec(DEAD_LETTERS, "delete", 7, public=False),  # ids only, and no longer than the internal topic
    TopicSpec(LEADS, "delete", 30, public=True),
    TopicSpec(CUSTOMERS, "compact", None, public=True),
    TopicSpec(DEALERS, "compact", None, public=True),
    TopicSpec(TASKS, "delete", 30, public=True),
    TopicSpec(SALES, "delete", 30, public=True),
    TopicSpec(LEDGER, "delete", 400, public=True),
    # quarterly network evaluations, kept as long as the ledger so a dashboard can rebuild a year of them
    TopicSpec(NETWORKS, "delete", 400, public=True),
    # dealers' callback and promotion plans moving along the approval chain (issue 18), for the HQ console
    TopicSpec(PLANS, "delete", 400, public=True),
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
        head = {
            "specversion": self.specversion,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "subject": self.subject,
            "datacontenttype": self.datacontenttype,
            "dataschema": self.dataschema,
            "data": self.data,
            **(self.__pydantic_extra__ or {}),
        }
        return orjson.dumps(
            {k: v for k, v in head.items() if v is not None}, option=orjson.OPT_UTC_Z, default=to_jsonable_python
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate(orjson.loads(raw))


def new_event_id() -> str:
    return str(uuid.uuid4())


E = TypeVar("E", bound="EventData")


class EventData(BaseModel):
    """Base of every payload: consumers must tolerate fields they do not know.

    A catalogued event type also declares `type: Literal["leadnet...."] = Field("leadnet....", exclude=True)`
    (excluded: the type travels as the envelope's `type`, not inside `data`), and says where it goes.
    """

    model_config = ConfigDict(extra="allow")

    version: ClassVar[int] = 1
    event_topic: ClassVar[str]  # without the deployment's topic prefix
    event_aggregate: ClassVar[str]  # the outbox's aggregate type: what the Kafka key identifies
    # True for a payload with personal data in full (internal topics only): the relay deletes its sent outbox rows
    # after minutes (`outbox_personal_data_retention_minutes`), not the days other rows are kept.
    personal_data: ClassVar[bool] = False

    def __init_subclass__(cls, *, topic: str | None = None, aggregate: str | None = None, **kwargs: Any) -> None:
        """Where a payload goes, said in its class line: `class LeadEvent(EventData, topic=LEADS, aggregate="lead")`;
        a subclass keeps its base's unless it says otherwise."""
        super().__init_subclass__(**kwargs)
        if topic is not None:
            cls.event_topic = topic
        if aggregate is not None:
            cls.event_aggregate = aggregate

    @classmethod
    def event_type(cls) -> str:
        """The CloudEvents `type` of a catalogued payload model."""
        field = cls.model_fields.get("type")
        if field is None or not isinstance(field.default, str):
            raise TypeError(f"{cls.__name__} is not a catalogued event type")
        return field.default

    @classmethod
    def dataschema(cls) -> str:
        return schema_uri(cls.event_type(), cls.version)

    @classmethod
    def of(cls: type[E], envelope: Envelope) -> E:
        """This type's payload of `envelope`, upcast from an older version if need be (a typed `parse_event`)."""
        if envelope.type != cls.event_type():
            raise ValueError(f"expected a {cls.event_type()} event, got {envelope.type}")
        return cls.model_validate(_current_data(envelope, cls))


def schema_uri(event_type: str, version: int) -> str:
    return f"/schemas/{event_type}/v{version}"


def make_envelope(
    *,
    data: EventData,
    source: str,
    time: datetime,
    subject: str | None,
    event_id: str | None = None,
    event_type: str | None = None,
) -> Envelope:
    """The envelope of a payload; `event_type` only for an uncatalogued payload (tests), else it is the model's."""
    event_type = event_type or type(data).event_type()
    version = type(data).version
    # Built without validation: `data` is a validated payload dumped to plain JSON just here, and validating that
    # dump again walked every record inside a lead.submitted (about a tenth of the router's time per decision).
    return Envelope.model_construct(
        id=event_id or new_event_id(),
        type=event_type,
        source=source,
        time=time,
        subject=subject,
        dataschema=schema_uri(event_type, version),
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


# ---- shared field blocks -------------------------------------------------------------------------------------
# Field blocks several payloads carry, each declared once. Only fields: a payload's topic and aggregate come from
# its family's base below, its type from its own `type` line.


class RecordPlace(BaseModel):
    """Where a record's customer is and what it wants, for dashboards: the county adcode (no street, masked) and
    the product line."""

    region_code: str | None = None
    product_line: str | None = None


class RecordOrigin(RecordPlace):
    """Where a record came from: its source and information network codes (issue 20)."""

    source: str | None = None
    network_code: str | None = None


class Timetable(BaseModel):
    """When a reminder is due and sent (domain.md "Deadlines in one place")."""

    due_by: datetime  # the end of the due day, Asia/Shanghai
    days_before: int
    remind_at: datetime
    occurred_at: datetime


# ---- event families: a topic and the aggregate its key identifies ---------------------------------------------


class InternalLeadEvent(EventData, topic=LEADS_INTERNAL, aggregate="lead"): ...


class LeadEvent(EventData, topic=LEADS, aggregate="lead"): ...


class CustomerEvent(EventData, topic=LEADS, aggregate="customer"):
    """Keyed by the customer id; on the leads topic, in order with the customer's lead events."""

    customer_id: str


class DealerEvent(EventData, topic=DEALERS, aggregate="dealer"):
    code: str


class SaleEvent(EventData, topic=SALES, aggregate="sale"):
    sale_id: str
    customer_id: str


class NetworkEvent(EventData, topic=NETWORKS, aggregate="network_owner"): ...


# ---- leadnet.internal.leads.v1 -------------------------------------------------------------------------------


class LeadSubmitted(InternalLeadEvent):
    """A record intake saved; carries personal data, so it only travels on the internal topic."""

    type: Literal["leadnet.lead.submitted"] = Field("leadnet.lead.submitted", exclude=True)
    personal_data: ClassVar[bool] = True

    lead_id: str
    entered_by: str | None  # dealer code; None when HQ collected it
    entered_by_role: str
    submitted_at: datetime
    source: str
    network_code: str | None = None
    record: dict[str, Any]  # the normalized record (customer block with full phone, name, address)


class CustomerCorrection(BaseModel):
    """The customer block's correctable fields; an address comes with its county's adcode (it is what routes)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    address: str | None = Field(None, min_length=1, max_length=500)
    region_code: str | None = Field(None, pattern=r"^[1-8][0-9]{5}$")
    tier: Literal["retail", "general_big", "gold_silver"] | None = None
    nature: Literal["new", "own_brand", "competitor"] | None = None


class RecordCorrections(BaseModel):
    """What a re-check corrects in a record, block by block; the phone is the customer's identity and is not
    corrected here (a record with a wrong phone is closed as invalid and entered anew)."""

    model_config = ConfigDict(extra="forbid")

    customer: CustomerCorrection | None = None
    vehicles_in_use: list[dict[str, Any]] | None = None
    usage: dict[str, Any] | None = None
    purchase_intent: dict[str, Any] | None = None


class LeadCorrected(InternalLeadEvent):
    """A re-check's corrections to a record: intake keeps them as a new version of it (internal: personal data)."""

    type: Literal["leadnet.lead.corrected"] = Field("leadnet.lead.corrected", exclude=True)

    lead_id: str
    customer_id: str | None = None
    return_round: int | None = None
    task_id: str | None = None
    corrected_by: str | None = None  # the dealer code that corrected it
    # A `RecordCorrections` without the fields left out: only what the dealer corrected (null never means "clear").
    corrections: dict[str, Any]
    corrected_at: datetime


# ---- leadnet.public.leads.v1 ---------------------------------------------------------------------------------


class LeadFacts(LeadEvent, RecordOrigin):
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
    horizon: str | None = None
    lead_version: int = 0  # the router's change count (1 accepted, +1 per reassignment); older facts lose; 0: unset


class FleetLine(BaseModel):
    """One line of a customer's vehicles in use, without personal data (domain.md §2 在用車)."""

    brand: str | None = None
    model: str | None = None
    quantity: int = 0


class LeadAccepted(LeadFacts):
    type: Literal["leadnet.lead.accepted"] = Field("leadnet.lead.accepted", exclude=True)
    customer_existed: bool = False
    protection_until: datetime | None = None
    accepted_at: datetime
    rule: str | None = None
    warnings: list[Warning_] = Field(default_factory=list)
    customer: MaskedCustomer = Field(default_factory=MaskedCustomer)
    # The record's vehicles in use (brand, model, quantity), for the scheduler's repurchase reminders (§6).
    fleet: list[FleetLine] | None = None
    # The customer's tier after this record (`tier` is what the record itself said, which the rewards follow):
    # timing follows the customer's current tier (contract.md "Lead life cycle"). None from older routers.
    customer_tier: str | None = None


class LeadRejected(LeadEvent, RecordOrigin):
    # For dashboards (issue 20), all optional and masked: what the refused record said (county adcode, product
    # line, tier, source, network) and who holds the lead it duplicates. The entrant already sees its own earlier
    # lead's assigned dealer (the 201 body, GET /v1/leads/{id}); the topic is HQ's, and a dealer's webhook only
    # ever carries events about that dealer (contract.md "Notifier").
    type: Literal["leadnet.lead.rejected"] = Field("leadnet.lead.rejected", exclude=True)

    lead_id: str
    customer_id: str | None = None
    entered_by: str | None = None
    reason: str  # duplicate_lead
    existing_lead_id: str | None = None
    rejected_at: datetime
    tier: str | None = None
    assigned_dealer: str | None = None  # the assigned dealer of `existing_lead_id`


class LeadReassigned(LeadFacts):
    type: Literal["leadnet.lead.reassigned"] = Field("leadnet.lead.reassigned", exclude=True)
    from_dealer: str | None = None
    to_dealer: str | None = None
    reason: str  # protection_expired | dealer_withdrawn
    reassigned_at: datetime


class LeadVerified(LeadFacts):
    """A record proven true and valid (domain.md §3 "Verification"), once per record, by the scheduler alone."""

    type: Literal["leadnet.lead.verified"] = Field("leadnet.lead.verified", exclude=True)
    verified_at: datetime
    task_id: str | None = None
    # What proved it: a callback that confirmed it (every event before `by` existed), or a confirmed sale.
    by: Literal["callback", "sale"] = "callback"
    sale_id: str | None = None


class LeadClosed(LeadFacts):
    type: Literal["leadnet.lead.closed"] = Field("leadnet.lead.closed", exclude=True)
    reason: str  # invalid_information | ...
    closed_at: datetime
    # The HQ return whose re-check closed it (`outcome: invalid`), None for a close by callbacks.
    return_round: int | None = None


class LeadReturned(LeadFacts):
    """HQ returned the record as invalid (contract.md "Lead life cycle"): the entering dealer re-checks it.

    `return_round` counts a lead's returns (1, 2, ...): a re-check answers one round, so every service can tell,
    whatever order the events come in, whether the lead is still returned (a round not yet reopened) or not."""

    type: Literal["leadnet.lead.returned"] = Field("leadnet.lead.returned", exclude=True)
    return_round: int
    reason: str  # HQ's words, with phone numbers and street addresses redacted (public topic)
    returned_at: datetime


class LeadReopened(LeadFacts):
    """The entering dealer's re-check confirmed a returned record: the lead is active again (never after closed)."""

    type: Literal["leadnet.lead.reopened"] = Field("leadnet.lead.reopened", exclude=True)
    return_round: int
    reopened_at: datetime
    task_id: str | None = None
    corrected: list[str] = Field(default_factory=list)  # the blocks the re-check corrected (names, no values)


class RefusalProblem(BaseModel):
    """One field problem of a refused record: where and what, never the submitted value."""

    field: str  # a JSON pointer of the record's schema ("/customer/phone"); unknown names read "/~unknown"
    code: str  # invalid_phone | missing_field | ...


class LeadRefused(LeadEvent, RecordOrigin, aggregate="dealer"):
    """Intake refused a submitted record (422 `validation_failed`, or 413 for one record of a batch): nothing was
    saved. For HQ's collection-quality figure per dealer and network (issue 20). No personal data, no submitted
    value: the entrant, the source and network only when they are codes of the right shape, and the problems'
    codes and pointers. Keyed by the entrant's dealer code ("HQ" for HQ's own records): it has no customer."""

    # Every code (source, network, county adcode, product line, tier) only when it is a valid code of its kind.
    type: Literal["leadnet.lead.refused"] = Field("leadnet.lead.refused", exclude=True)

    refusal_id: str
    entered_by: str | None = None  # dealer code; None when HQ submitted it
    entered_by_role: str
    tier: str | None = None
    channel: str  # single (POST /v1/leads) | batch (POST /v1/leads/batch)
    batch_index: int | None = None  # the record's position in its batch
    status: int  # 422, or 413 for a record larger than the limit
    problems: list[RefusalProblem] = Field(default_factory=list)
    problems_total: int = 0  # the record's problem count (`problems` is capped by policy)
    refused_at: datetime


class CustomerErased(CustomerEvent):
    """HQ erased a customer (PIPL): every service forgets its personal data and the free text about it. Ids only.

    On the public leads topic, keyed by the customer id like every lead event: after the customer's earlier lead
    events in their order (a consumer never sees a lead of the customer after its erasure), kept 30 days (a
    consumer that was down a while still learns of it; on the compacted customers topic the tombstone that follows
    would let compaction drop it), and read by every service and outside read model that keeps lead facts.
    """

    type: Literal["leadnet.customer.erased"] = Field("leadnet.customer.erased", exclude=True)

    lead_ids: list[str] = Field(default_factory=list)  # the customer's records, as the router knew them
    erased_at: datetime


# ---- leadnet.public.customers.v1 / dealers.v1 ----------------------------------------------------------------


class CustomerUpserted(CustomerEvent, topic=CUSTOMERS):
    type: Literal["leadnet.customer.upserted"] = Field("leadnet.customer.upserted", exclude=True)

    customer: MaskedCustomer
    region_code: str | None = None
    tier: str = "retail"
    assigned_dealer: str | None = None
    protected_by: str | None = None
    protection_until: datetime | None = None
    updated_at: datetime


class FieldCorrection(BaseModel):
    """One corrected field of a customer file: contact fields masked, the other blocks as they are (no PII)."""

    field: str  # phone | name | address | vehicles_in_use | usage | purchase_intent
    old: Any = None
    new: Any = None


class CustomerCorrected(CustomerEvent):
    """A customer file was corrected (`PATCH /v1/customers/{id}`): who, when, which fields, masked.

    On the leads topic, not the compacted customers topic: compaction keeps only a key's last message, and the
    customer's next `customer.upserted` would erase the correction that HQ counts."""

    type: Literal["leadnet.customer.corrected"] = Field("leadnet.customer.corrected", exclude=True)

    change_id: str  # the customer_changes rows of this correction share it
    actor: str  # the token subject who corrected it
    actor_role: str
    dealer: str | None = None  # the correcting dealer; None for HQ
    assigned_dealer: str | None = None
    changes: list[FieldCorrection]
    corrected_at: datetime


class CustomerTierChanged(CustomerEvent):
    """A customer's tier or nature changed: a later record (or a correction) said more (domain.md "upgraded
    customers"). On the leads topic, not the compacted customers topic: compaction would keep only the customer's
    latest state and erase the changes HQ counts; keyed by customer, it stays in order with that customer's leads."""

    type: Literal["leadnet.customer.tier_changed"] = Field("leadnet.customer.tier_changed", exclude=True)

    old_tier: str
    new_tier: str
    old_nature: str | None = None
    new_nature: str | None = None
    reason: str  # later_record | correction
    lead_id: str | None = None  # the record that said so, for reason later_record
    changed_by: str | None = None  # the entering dealer, or the correcting caller
    changed_at: datetime


# A dealer's sales volume level (domain.md "Who is involved": ≥ 1000 vehicles a year, 300–999, < 300). The router
# refuses any other value; a consumer reading an older event with free text treats it as unknown.
SalesLevel = Literal["gte_1000", "300_999", "lt_300"]
SALES_LEVELS: tuple[str, ...] = get_args(SalesLevel)
# The party a registered code stands for (domain.md §1 network kinds: dealer 14 / 13 / 12, service provider 5 / 6).
PartyType = Literal["dealer", "service_provider_exclusive", "service_provider_non_exclusive"]
PARTY_TYPES: tuple[str, ...] = get_args(PartyType)


class DealerUpserted(DealerEvent):
    type: Literal["leadnet.dealer.upserted"] = Field("leadnet.dealer.upserted", exclude=True)

    name: str
    territories: list[str]
    product_lines: list[str]
    capability: int
    sales_level: str | None = None
    # Which kind of party (domain.md "Who is involved"): a dealer, or a service provider (服務商) exclusive or not,
    # which sizes the network kinds expected of it (§1: 5 / 6). Absent: a dealer.
    party_type: str | None = None
    status: str = "active"
    updated_at: datetime


class DealerWithdrawn(DealerEvent):
    type: Literal["leadnet.dealer.withdrawn"] = Field("leadnet.dealer.withdrawn", exclude=True)

    withdrawn_at: datetime
    reassigned: int = 0
    unplaced: int = 0


# ---- leadnet.public.tasks.v1 ---------------------------------------------------------------------------------


class TaskEvent(EventData, RecordPlace, topic=TASKS, aggregate="task"):
    """What every task event carries; each moment of a task's life is its own type below."""

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
    # Who works it and how (the scheduler's staff and method matrices, domain.md §4-5): the dealer position, the
    # method, the HQ positions that accompany (參陪人). None for kinds the matrices do not staff.
    position: str | None = None
    method: str | None = None
    accompany: list[str] = Field(default_factory=list)
    # The record's facts a dashboard groups by, as the lead events carry them (same adcode granularity, no PII):
    # region and product line (`RecordPlace`), customer tier, purchase horizon, and the dealer who entered it.
    tier: str | None = None
    horizon: str | None = None
    entered_by: str | None = None
    # The moment an overdue task escalates to HQ (the scheduler's escalation delay, domain.md). Carried on every
    # task event so a reader can tell per task whether and when it escalated: the daily `task.overdue_digest` has
    # counts only and per-task `task.escalated` is no longer published. Optional (additive): older events and
    # tasks without an escalation deadline have none.
    escalate_at: datetime | None = None


class TaskScheduled(TaskEvent):
    type: Literal["leadnet.task.scheduled"] = Field("leadnet.task.scheduled", exclude=True)


class TaskDue(TaskEvent):
    type: Literal["leadnet.task.due"] = Field("leadnet.task.due", exclude=True)


class VehicleSpec(BaseModel):
    """What a vehicle is beyond brand and model (domain.md §2): its function, horsepower and body."""

    function: str | None = None
    horsepower: int | None = None
    body_spec: str | None = None


class FleetLineLearnt(FleetLine, VehicleSpec):
    """A vehicle in use as a callback learnt it (domain.md §2 在用車), no personal data."""


class UsageLearnt(BaseModel):
    """How the customer uses its vehicles (domain.md §2 車輛使用情況), as a callback learnt it."""

    model_config = ConfigDict(extra="allow")

    cargo: str | None = None
    load_tons: float | None = None
    haul_distance_km: float | None = None
    consumer_credit: str | None = None
    insurance: str | None = None


class IntentLearnt(VehicleSpec):
    """The purchase intent a callback surveyed (domain.md §2 購車意向)."""

    model_config = ConfigDict(extra="allow")

    brand: str | None = None
    model: str | None = None
    quantity: int | None = None
    product_line: str | None = None
    horizon: str | None = None


class CallbackContent(BaseModel):
    """What a callback learnt, as data (domain.md §4 "How"): whether the customer information was confirmed,
    which contact fields were found wrong (their new values are personal data: the dealer applies them with
    `PATCH /v1/customers/{id}`, never through this public event), vehicles and usage learnt, suggestions
    (redacted free text) and the purchase intent surveyed."""

    model_config = ConfigDict(extra="allow")

    information_confirmed: bool | None = None
    contact_corrected: list[str] = Field(default_factory=list)  # phone | name | address
    vehicles_in_use: list[FleetLineLearnt] | None = None
    usage: UsageLearnt | None = None
    suggestions: str | None = None
    purchase_intent: IntentLearnt | None = None


class TaskCompleted(TaskEvent):
    type: Literal["leadnet.task.completed"] = Field("leadnet.task.completed", exclude=True)
    # A callback's structured content (absent for a completion that reported only an outcome).
    content: CallbackContent | None = None
    # The position of the person who reported it (None for a token without a position).
    completed_by_position: str | None = None
    # A promotion's action (domain.md §5): when it was carried out, by when its result was due, and whether the
    # result came later than that (the report is this completion).
    action_at: datetime | None = None
    result_due_at: datetime | None = None
    result_late: bool | None = None


class TaskOverdue(TaskEvent):
    type: Literal["leadnet.task.overdue"] = Field("leadnet.task.overdue", exclude=True)


class TaskEscalated(TaskEvent):
    type: Literal["leadnet.task.escalated"] = Field("leadnet.task.escalated", exclude=True)


class TaskOverdueDigest(EventData, topic=TASKS, aggregate="dealer"):
    """A dealer's overdue work for HQ, once per dealer and day (issue 18 item 6): the counts of its tasks overdue
    past the escalation delay, by kind, and the oldest of them. Replaces a `task.escalated` per task, so a dealer
    with thousands of overdue records is one event a day; per-task `task.overdue` stays for the dealer's own
    systems. Ids, counts and dates only."""

    type: Literal["leadnet.task.overdue_digest"] = Field("leadnet.task.overdue_digest", exclude=True)

    dealer: str | None  # None: tasks of leads waiting in the HQ queue
    day: date  # the Asia/Shanghai business date of the digest
    overdue: int  # tasks overdue past the escalation delay, as of `occurred_at`
    overdue_by_kind: dict[str, int]
    newly_escalated: int  # of them, those in no earlier digest
    oldest_task_id: str
    oldest_due_at: datetime
    occurred_at: datetime


class PlanReminder(EventData, Timetable, topic=TASKS, aggregate="plan"):
    """A dealer's plan is due soon (domain.md "Deadlines in one place": the 30th, every Friday)."""

    type: Literal["leadnet.plan.reminder"] = Field("leadnet.plan.reminder", exclude=True)

    dealer: str
    plan: str  # callback (next month's callback plan) | promotion (next week's promotion plan)
    period: str  # the planned period: yyyy-mm, or yyyy-Www for a week
    deadline_day: date  # Asia/Shanghai business date the plan is due by (end of that day)
    # The positions that must act (policy/work_plans.toml): the makers before the submission deadline, the waiting
    # stage's positions before an approval is needed; `stage` names that stage (None: the submission).
    positions: list[str] = []
    stage: str | None = None


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


class SaleAttributed(SaleEvent):
    type: Literal["leadnet.sale.attributed"] = Field("leadnet.sale.attributed", exclude=True)

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
    region_code: str | None = None  # the customer's county adcode (masked: no street), for dashboards
    # A sale that waited for a confirmation (`sale.pending_confirmation`): who confirmed it ("hq" or a dealer
    # code) and when; None for a sale from the seller's own stock, attributed when reported.
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None


class SaleCancelled(SaleEvent):
    type: Literal["leadnet.sale.cancelled"] = Field("leadnet.sale.cancelled", exclude=True)

    cancelled_at: datetime
    # True for a sale cancelled while it still waited for its confirmation: nothing was attributed or paid, so
    # there is nothing to reverse (the ledger never stored it); a dashboard closes the pending sale.
    was_pending: bool = False


class SalePendingConfirmation(SaleEvent, RecordPlace):
    """A reported sale waits for a confirmation (contract.md "Sales that pay money are confirmed facts"): by the
    supplying dealer, or by HQ when it has more vehicles than the record intends. For the notifier (it tells the
    confirmer) and dashboards. Ids, dealer codes, the county adcode and counts only; nothing is paid on it."""

    # `product_line`: the vehicles' line when they share one.
    type: Literal["leadnet.sale.pending_confirmation"] = Field("leadnet.sale.pending_confirmation", exclude=True)

    seller: str
    supplied_by: str
    confirmer: str  # who must confirm: the supplying dealer's code, or "hq"
    attributed_lead_id: str | None = None
    product_lines: list[str] = Field(default_factory=list)
    vehicle_count: int
    sold_at: datetime
    reported_at: datetime


class SaleRejected(SaleEvent):
    """A pending sale was rejected by its confirmer: its VINs are free again and nothing is ever paid on it."""

    type: Literal["leadnet.sale.rejected"] = Field("leadnet.sale.rejected", exclude=True)

    seller: str
    supplied_by: str | None = None
    rejected_by: str  # "hq" or the confirming dealer's code
    region_code: str | None = None
    vehicle_count: int = 0
    rejected_at: datetime


# ---- leadnet.public.ledger.v1 --------------------------------------------------------------------------------


class EntryPosted(EventData, RecordPlace, topic=LEDGER, aggregate="entry"):
    """A posting to a dealer's account, keyed by the customer it pays for (see `rewards_ledger.postings`)."""

    # For dashboards (issue 20), from what the ledger knows of the record and the sale: the customer's county
    # adcode, the product line (the vehicle's for a VIN's posting, else the record's) and the record's entrant.
    type: Literal["leadnet.ledger.entry_posted"] = Field("leadnet.ledger.entry_posted", exclude=True)

    entry_id: str
    kind: str
    dealer: str
    amount_fen: int
    lead_id: str | None = None
    customer_id: str | None = None  # the Kafka key; None only for a posting no customer's record led to
    sale_id: str | None = None
    vin: str | None = None
    reverses: str | None = None
    posted_at: datetime
    rule: str | None = None
    entered_by: str | None = None


# ---- leadnet.internal.dlq.v1 ----------------------------------------------------------------------------------


class DeadLetter(EventData, topic=DEAD_LETTERS, aggregate="dead_letter"):
    """A message a consumer gave up on: where it is and what it was, never the message itself (it may carry
    personal data, and the DLQ is read on operators' machines). The event is found again at its topic, partition
    and offset (kept no longer than the internal topic), and in the consumer's `consumer_failures` while its key is
    parked. v2 dropped v1's `original` (the message verbatim) and `error` (the error's text)."""

    type: Literal["leadnet.event.dead_lettered"] = Field("leadnet.event.dead_lettered", exclude=True)
    version: ClassVar[int] = 2

    consumer: str
    topic: str
    partition: int
    offset: int
    key: str | None = None
    failed_event_id: str | None = None  # None: the message was no readable event
    failed_event_type: str | None = None
    failed_event_source: str | None = None
    error_class: str
    attempts: int
    failed_at: datetime


# ---- leadnet.public.networks.v1 ------------------------------------------------------------------------------


class NetworkEvaluated(NetworkEvent):
    """One owner's information networks evaluated for a quarter (domain.md §1 "Quarterly evaluation"): HQ's national
    networks, or one dealer's regional ones. Once per owner and quarter; the per-network grades are in the API."""

    type: Literal["leadnet.network.evaluated"] = Field("leadnet.network.evaluated", exclude=True)

    owner: str  # "HQ" or the dealer's code (the key)
    quarter: str  # 2026Q4
    scope: str  # national | regional
    evaluated_at: datetime
    trigger: str  # timer | on_demand
    networks: int
    networks_planned: int | None = None
    networks_developed: int
    development_completion: float | None = None
    development_rating: str | None = None  # excellent | average | poor; None without a plan
    records: int
    verified: int
    authenticity_share: float | None = None
    authenticity_rating: str | None = None
    sales_level: str | None = None
    kinds_expected: int | None = None
    kinds_present: list[str] = []
    class_counts: dict[str, int] = {}  # {"B-2": 3, "D": 1}: "D" alone for a network without records
    main_sources: int = 0  # networks of authenticity level 1-2
    auxiliary_sources: int = 0  # level 3
    policy_versions: dict[str, str] = {}


class NetworkPlanReminder(NetworkEvent, Timetable):
    """A deadline of the network and collection procedures is near and the owner has not met it; for the notifier.
    `plan` names the deadline (domain.md §1–2): `fixed_network_development` (the 5th of a quarter's first month),
    `temporary_network_development` (the 5th of each month), `network_evaluation` (the 10th of a quarter's first
    month, for the previous quarter: `period` is the quarter evaluated), `collection_hand_on` (the month's records
    sorted and handed on by the 25th: `period` is the month)."""

    type: Literal["leadnet.network.plan_reminder"] = Field("leadnet.network.plan_reminder", exclude=True)

    owner: str  # "HQ" or the dealer's code (the key)
    plan: str  # fixed_network_development | temporary_network_development | network_evaluation | collection_hand_on
    period: str  # 2027Q1 | 2027-01


class NetworkUpserted(NetworkEvent, aggregate="network"):
    """An information network as it now stands (domain.md §1), when registered or changed and when a quarter's
    evaluation graded it: its kind, scope, owner and member kinds, never its members' names or contacts."""

    type: Literal["leadnet.network.upserted"] = Field("leadnet.network.upserted", exclude=True)

    code: str  # the key
    kind: str  # fixed | temporary
    scope: str  # national | regional
    owner: str  # "HQ" or the dealer's code
    member_types: list[str] = []
    registered_at: datetime
    graded_in: str | None = None  # the last quarter evaluated, when it has been
    grade: str | None = None  # A-D in that quarter
    authenticity_level: int | None = None  # 1-3; None without records
    network_class: str | None = None  # "B-2"
    collection_cycle: str | None = None  # quarterly | monthly
    updated_at: datetime


class CollectionPlanIssued(NetworkEvent, aggregate="collection_plan"):
    """HQ's monthly collection plan (domain.md §2 "Plans": by industry and fixed counts), issued or changed."""

    type: Literal["leadnet.collection.plan_issued"] = Field("leadnet.collection.plan_issued", exclude=True)

    month: str  # 2027-01 (the key)
    industries: dict[str, int]  # records planned per industry
    networks: dict[str, int] = {}  # records planned per national network
    total: int
    issued_by: str | None = None  # the caller key, no name
    issued_at: datetime


class CollectionHandOnFlagged(NetworkEvent):
    """A dealer had not handed on its month's target of records by the 25th (domain.md §3: 每月25日前 sorted and
    handed on): once per dealer and month, after the deadline."""

    type: Literal["leadnet.collection.hand_on_flagged"] = Field("leadnet.collection.hand_on_flagged", exclude=True)

    dealer: str  # the key
    month: str
    due_by: datetime
    target: int
    handed_on: int  # records handed on by the deadline
    flagged_at: datetime


# ---- leadnet.public.plans.v1 ---------------------------------------------------------------------------------


class PlanEvent(EventData, topic=PLANS, aggregate="dealer"):
    """A dealer's monthly callback or weekly promotion plan moved (followup-scheduler, work_plans.py): counts only,
    no customer and no person; who acted is named by position and role (contract.md "Plans"). Keyed by dealer."""

    plan_id: str
    dealer: str
    region: str | None = None  # province adcode prefix of the dealer's first territory
    channel: str | None = None  # the dealer's sales channel (銷售通路)
    plan: str  # callback | promotion
    period: str  # yyyy-mm | yyyy-Www
    status: str  # draft | submitted | approved | rejected
    stage: str | None = None  # the approval stage it waits at (submitted) or that acted
    lines: int
    lines_by_tier: dict[str, int] = {}
    quota: int
    late: bool = False
    due_by: datetime
    acted_by_role: str | None = None
    acted_by_position: str | None = None
    occurred_at: datetime


class PlanSubmitted(PlanEvent):
    type: Literal["leadnet.plan.submitted"] = Field("leadnet.plan.submitted", exclude=True)


class PlanApproved(PlanEvent):
    """The plan passed its last stage: its lines now plan the dealer's tasks."""

    type: Literal["leadnet.plan.approved"] = Field("leadnet.plan.approved", exclude=True)


class PlanRejected(PlanEvent):
    """Sent back to the makers; `reason` with phone numbers and street addresses redacted."""

    type: Literal["leadnet.plan.rejected"] = Field("leadnet.plan.rejected", exclude=True)

    reason: str


class PlanLate(PlanEvent):
    """The plan was not submitted when its deadline day ended (the 30th / the Friday before the week)."""

    type: Literal["leadnet.plan.late"] = Field("leadnet.plan.late", exclude=True)


# ---- the catalogue -------------------------------------------------------------------------------------------

AnyEvent = Annotated[
    LeadSubmitted
    | LeadAccepted
    | LeadRejected
    | LeadRefused
    | LeadReassigned
    | LeadVerified
    | LeadClosed
    | CustomerErased
    | LeadReturned
    | LeadReopened
    | LeadCorrected
    | CustomerUpserted
    | CustomerCorrected
    | CustomerTierChanged
    | DealerUpserted
    | DealerWithdrawn
    | TaskScheduled
    | TaskDue
    | TaskCompleted
    | TaskOverdue
    | TaskEscalated
    | TaskOverdueDigest
    | PlanReminder
    | SaleAttributed
    | SaleCancelled
    | SalePendingConfirmation
    | SaleRejected
    | EntryPosted
    | NetworkEvaluated
    | NetworkPlanReminder
    | NetworkUpserted
    | CollectionPlanIssued
    | CollectionHandOnFlagged
    | PlanSubmitted
    | PlanApproved
    | PlanRejected
    | PlanLate
    | DeadLetter,
    Field(discriminator="type"),
]
EVENTS: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)

EVENT_TYPES: dict[str, type[EventData]] = {
    model.event_type(): model
    for model in (
        LeadSubmitted,
        LeadAccepted,
        LeadRejected,
        LeadRefused,
        LeadReassigned,
        LeadVerified,
        LeadClosed,
        CustomerErased,
        LeadReturned,
        LeadReopened,
        LeadCorrected,
        CustomerUpserted,
        CustomerCorrected,
        CustomerTierChanged,
        DealerUpserted,
        DealerWithdrawn,
        TaskScheduled,
        TaskDue,
        TaskCompleted,
        TaskOverdue,
        TaskEscalated,
        TaskOverdueDigest,
        PlanReminder,
        SaleAttributed,
        SaleCancelled,
        SalePendingConfirmation,
        SaleRejected,
        EntryPosted,
        NetworkEvaluated,
        NetworkPlanReminder,
        NetworkUpserted,
        CollectionPlanIssued,
        CollectionHandOnFlagged,
        PlanSubmitted,
        PlanApproved,
        PlanRejected,
        PlanLate,
        DeadLetter,
    )
}
TOPIC_OF_TYPE: dict[str, str] = {event_type: model.event_topic for event_type, model in EVENT_TYPES.items()}
PERSONAL_DATA_TYPES: frozenset[str] = frozenset(t for t, model in EVENT_TYPES.items() if model.personal_data)


class UnknownEventType(LookupError):
    """An event type this code has no model for: a newer producer's, to be skipped (contract.md "Events")."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}")
        self.event_type = event_type


# ---- versions -------------------------------------------------------------------------------------------------

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
# (type, version) -> the function turning that version's `data` into the next version's.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register the step from `from_version` to `from_version + 1` of `event_type`'s payload."""

    def register(step: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = step
        return step

    return register


@upcaster("leadnet.event.dead_lettered", from_version=1)
def _dead_letter_ids_only(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried the message verbatim and the error's text: keep the ids read from them, drop the rest."""
    original = data.pop("original", None)
    error = str(data.pop("error", "") or "")
    data.setdefault("error_class", re.split(r"[(:]", error, maxsplit=1)[0].strip() or "unknown")
    try:
        message = orjson.loads(original) if isinstance(original, str) else None
    except orjson.JSONDecodeError:
        message = None
    if isinstance(message, dict):
        for field, name in (
            ("failed_event_id", "id"),
            ("failed_event_type", "type"),
            ("failed_event_source", "source"),
        ):
            value = message.get(name)
            data.setdefault(field, value if isinstance(value, str) else None)
    return data


_VERSION = re.compile(r"/v(\d+)$")


def version_of(envelope: Envelope) -> int:
    """The payload version an envelope declares in its `dataschema` (v1: every event before versions existed)."""
    found = _VERSION.search(envelope.dataschema or "")
    return int(found.group(1)) if found else 1


def _current_data(envelope: Envelope, model: type[EventData]) -> dict[str, Any]:
    data, version = envelope.data, version_of(envelope)
    while version < model.version:
        step = UPCASTERS.get((envelope.type, version))
        if step is None:
            raise ValueError(f"no upcaster from {envelope.type} v{version}")
        data, version = step(dict(data)), version + 1
    # A newer version than ours is read as ours: a compatible change added fields, and unknown ones are kept.
    return data


def parse_event(envelope: Envelope) -> AnyEvent:
    """The typed payload of an envelope, upcast to the current version; `UnknownEventType` for a type not in the
    catalogue (consumers skip those), `ValidationError` for a payload that does not fit its type."""
    model = EVENT_TYPES.get(envelope.type)
    if model is None:
        raise UnknownEventType(envelope.type)
    return EVENTS.validate_python({**_current_data(envelope, model), "type": envelope.type})


parse_data = parse_event  # the name consumers used before the catalogue
