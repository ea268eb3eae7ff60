"""dedup-router tables: dealers, the customer registry (keyed by normalized phone), leads, fairness pools."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from leadnet_shared import columns
from leadnet_shared.access_log import AccessLogColumns
from leadnet_shared.db import new_metadata
from leadnet_shared.outbox import define_kit_tables

metadata = new_metadata()
OUTBOX, INBOX, KIT_STATE = define_kit_tables(metadata)


class Base(columns.Typed, DeclarativeBase):
    metadata = metadata


class Dealer(Base):
    __tablename__ = "dealers"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    territories: Mapped[list[str]] = mapped_column(ARRAY(String(6)))
    product_lines: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    capability: Mapped[int]
    sales_level: Mapped[str | None] = mapped_column(String(20))
    party_type: Mapped[str] = mapped_column(String(40), default="dealer")  # one of events.PARTY_TYPES
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | withdrawn
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Customer(Base):
    """The registry: one row per customer, the same customer being the same normalized phone number."""

    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500))
    region_code: Mapped[str] = mapped_column(String(6))
    tier: Mapped[str] = mapped_column(String(20))
    nature: Mapped[str] = mapped_column(String(20))
    assigned_dealer: Mapped[str | None] = mapped_column(String(32))
    authorized_dealer: Mapped[str | None] = mapped_column(String(32))
    protected_by: Mapped[str | None] = mapped_column(String(32))
    protection_until: Mapped[datetime | None]
    name_county_key: Mapped[str | None] = mapped_column(String(64))
    fleet_city_key: Mapped[str | None] = mapped_column(String(64))
    # The product line of the customer's first routed record: what a withdrawal redistributes it by.
    product_line: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("ix_customers_assigned_dealer", "assigned_dealer", "customer_id"),
        # (key, id): a possible-duplicate lookup reads the lowest ids of a key in order, never all who share it.
        Index(
            "ix_customers_name_county_key_id", "name_county_key", "customer_id", postgresql_include=["fleet_city_key"]
        ),
        Index(
            "ix_customers_fleet_city_key_id", "fleet_city_key", "customer_id", postgresql_include=["name_county_key"]
        ),
        Index("ix_customers_protection_until", "protection_until", postgresql_where="protection_until IS NOT NULL"),
    )


class RoutedLead(Base):
    __tablename__ = "leads"

    lead_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    entered_by: Mapped[str | None] = mapped_column(String(32))
    entrant_key: Mapped[str] = mapped_column(String(40))  # dealer code, or "hq" for HQ-collected records
    assigned_dealer: Mapped[str | None] = mapped_column(String(32))
    authorized_dealer: Mapped[str | None] = mapped_column(String(32))
    # open | closed: a closed lead no longer counts as its entrant's open lead (life_cycle.py); a returned lead
    # stays open here (it still blocks a second record of the entrant) and is told apart by its rounds below.
    status: Mapped[str] = mapped_column(String(20), default="open")
    cross_region: Mapped[bool] = mapped_column(default=False)
    reward_eligible: Mapped[bool] = mapped_column(default=False)
    tier: Mapped[str] = mapped_column(String(20))
    nature: Mapped[str] = mapped_column(String(20))
    region_code: Mapped[str] = mapped_column(String(6))
    product_line: Mapped[str | None] = mapped_column(String(32))
    horizon: Mapped[str | None] = mapped_column(String(32))
    # How many vehicles the record says the customer intends to buy: sales beyond it need HQ's confirmation.
    intent_quantity: Mapped[int | None]
    source: Mapped[str] = mapped_column(String(40))
    network_code: Mapped[str | None] = mapped_column(String(64))
    protection_until: Mapped[datetime | None]
    rule: Mapped[str] = mapped_column(String(80))
    explanation: Mapped[dict[str, Any]]
    entered_at: Mapped[datetime]
    # 1 when routed, one more at every reassignment; published as `lead_version` so a consumer that gets a lead's
    # events out of order never lets an older fact overwrite a newer one.
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The life cycle other services decide (life_cycle.py): closed (scheduler), returned by HQ (intake), reopened
    # by the entrant's re-check (scheduler). Kept as facts that commute, so the order they arrive in never matters.
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(40))
    return_round: Mapped[int] = mapped_column(default=0, server_default="0")
    reopen_round: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (
        Index(
            "ix_leads_customer_entrant_open",
            "customer_id",
            "entrant_key",
            unique=True,
            postgresql_where="status = 'open'",
        ),
        Index("ix_leads_assigned_dealer", "assigned_dealer", "status"),
        Index("ix_leads_entered_by_customer", "entered_by", "customer_id"),
        Index("ix_leads_customer", "customer_id", "entered_at"),
    )


@dataclass(frozen=True, slots=True)
class DecidedLead:
    """A routed lead's column values, without the ORM's instrumentation: the batch path makes hundreds per poll."""

    lead_id: str
    customer_id: str
    entered_by: str | None
    entrant_key: str
    assigned_dealer: str | None
    authorized_dealer: str | None
    status: str
    cross_region: bool
    reward_eligible: bool
    tier: str
    nature: str
    region_code: str
    product_line: str | None
    horizon: str | None
    intent_quantity: int | None
    source: str
    network_code: str | None
    protection_until: datetime | None
    rule: str
    explanation: dict[str, Any]
    entered_at: datetime
    version: int
    # The life cycle after routing (closed, HQ's returns and reopenings): a lead is decided open, never returned.
    closed_at: datetime | None = None
    closed_reason: str | None = None
    return_round: int = 0
    reopen_round: int = 0

    def row(self) -> dict[str, Any]:
        """The leads table row (the dataclass's fields are its columns)."""
        return {name: getattr(self, name) for name in self.__slots__}


class PoolCount(Base):
    """How many leads each dealer got from a (territory prefix, product line) pool: the fairness rule's input."""

    __tablename__ = "pool_counts"

    prefix: Mapped[str] = mapped_column(String(6), primary_key=True)
    product_line: Mapped[str] = mapped_column(String(32), primary_key=True)
    dealer: Mapped[str] = mapped_column(String(32), primary_key=True)
    assigned: Mapped[int] = mapped_column(default=0)


class Sale(Base):
    """A reported sale and its attribution verdict (who is credited, which lead, which rewards)."""

    __tablename__ = "sales"

    sale_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    seller: Mapped[str] = mapped_column(String(32))
    supplied_by: Mapped[str] = mapped_column(String(32))
    sold_at: Mapped[datetime]
    attributed_lead_id: Mapped[str | None] = mapped_column(String(36))
    credited_dealer: Mapped[str | None] = mapped_column(String(32))
    cross_region_exempt: Mapped[bool] = mapped_column(default=False)
    violation: Mapped[str | None] = mapped_column(String(40))
    rewards: Mapped[list[dict[str, Any]]]
    explanation: Mapped[dict[str, Any]]
    # pending_confirmation (waits for `confirmer`) | attributed (confirmed: the ledger pays on it) | rejected |
    # cancelled
    status: Mapped[str] = mapped_column(String(20), default="attributed")
    # Who must confirm a pending sale: the supplying dealer's code, or "hq" (vehicles beyond the record's intent).
    confirmer: Mapped[str | None] = mapped_column(String(32))
    decided_by: Mapped[str | None] = mapped_column(String(200))  # the token subject that confirmed or rejected it
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_sales_customer", "customer_id"),
        Index("ix_sales_attributed_lead", "attributed_lead_id"),
        Index(
            "ix_sales_pending_confirmer",
            "confirmer",
            "created_at",
            "sale_id",
            postgresql_where="status = 'pending_confirmation'",
        ),
    )


class SoldVehicle(Base):
    """One vehicle of a sale; a VIN is sold once while its sale stands (partial unique index)."""

    __tablename__ = "sold_vehicles"

    sale_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    vin: Mapped[str] = mapped_column(String(17), primary_key=True)
    model: Mapped[str | None] = mapped_column(String(100))
    product_line: Mapped[str | None] = mapped_column(String(32))
    cancelled: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (Index("ux_sold_vehicles_vin_sold", "vin", unique=True, postgresql_where="NOT cancelled"),)


class Vehicle(Base):
    """The maker's vehicle registry (contract.md "Sales that pay money are confirmed facts"): which dealer holds
    which VIN, with its model and product line, as the factory/wholesale system says. HQ loads it."""

    __tablename__ = "vehicles"

    vin: Mapped[str] = mapped_column(String(17), primary_key=True)
    model: Mapped[str] = mapped_column(String(100))
    product_line: Mapped[str] = mapped_column(String(32))
    delivered_to: Mapped[str] = mapped_column(String(32))
    delivered_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_vehicles_delivered_to", "delivered_to", "vin"),)


class SaleIdempotencyKey(Base):
    """A seller's Idempotency-Key on POST /v1/sales: the request it named and the response it got."""

    __tablename__ = "sale_idempotency_keys"

    caller_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_sale_idempotency_keys_created_at", "created_at"),)


class TimelineEntry(Base):
    """One fact of a customer's story (`GET /v1/customers/{id}/timeline`), as the public topics told it or as the
    router wrote it itself: stored generically (type, time, who, masked summary), so event types added later by
    other services appear without a change here. The event id is the key: a redelivery, or the consumer reading
    back an event the router wrote directly, is stored once."""

    __tablename__ = "customer_timeline"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(120))
    occurred_at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(200))  # a token subject, when the event names one
    dealer: Mapped[str | None] = mapped_column(String(32))  # the dealer the fact is about or by
    service: Mapped[str | None] = mapped_column(String(120))  # the envelope's source
    summary: Mapped[dict[str, Any]]  # the event's data: masked (public topics only)
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_customer_timeline_customer_time", "customer_id", "occurred_at", "event_id"),)


class CustomerProfile(Base):
    """The customer file's blocks besides contact data: vehicles in use, usage, purchase intent (domain.md §2),
    from the newest accepted record, then as corrected (`customer_changes`)."""

    __tablename__ = "customer_profiles"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    vehicles_in_use: Mapped[list[dict[str, Any]] | None]
    usage: Mapped[dict[str, Any] | None]
    purchase_intent: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CustomerChange(Base):
    """Append-only history of corrections: one row per changed field, old and new value, who and when. Rows of one
    `PATCH` share `change_id` (the id of the `leadnet.customer.corrected` event it published)."""

    __tablename__ = "customer_changes"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    change_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(36))
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_by_role: Mapped[str] = mapped_column(String(20))
    changed_by_dealer: Mapped[str | None] = mapped_column(String(32))
    changed_at: Mapped[datetime]

    __table_args__ = (Index("ix_customer_changes_customer", "customer_id", "changed_at", "seq"),)


class CustomerErasure(Base):
    """A customer HQ erased (PIPL): the registry row is gone, this says when and by whom. No personal data."""

    __tablename__ = "customer_erasures"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    erased_at: Mapped[datetime]
    erased_by: Mapped[str] = mapped_column(String(200))  # the token subject of the hq_admin who asked
    leads: Mapped[int]  # how many of the customer's records were closed


class AccessLogEntry(AccessLogColumns, Base):
    """Who read which customer unmasked (leadnet_shared.access_log)."""
