"""hq-console tables: the console's own history of the public topics, one fact table per event family.

The topics keep 30 days (leads, tasks, sales) to 400 (ledger, networks); HQ compares quarters and years, so every
fact the pages count is kept here, masked as it came. Three kinds of table:

- accumulating facts, one row per thing, its milestones filled in as their events arrive in any order (a lead's
  received / accepted / verified / promoted / sold / closed instants; a task's scheduled / completed / overdue /
  escalated instants; a sale and its cancellation);
- transaction facts, one row per event (ledger entries, tier changes, refusals at intake, network evaluations);
- dimensions the public topics publish as state (dealers, customers).

Every fact carries the dimensions the filters need (region adcode, product line, tier, source, network, dealers),
from its own event when the event has them, else from the lead it belongs to (`facts.fill_from_leads`); an unknown
dimension stays NULL and is shown as unknown, never guessed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from leadnet_shared import columns
from leadnet_shared.db import new_metadata
from leadnet_shared.outbox import define_kit_tables

metadata = new_metadata()
OUTBOX, INBOX, KIT_STATE = define_kit_tables(metadata)


class Base(columns.Typed, DeclarativeBase):
    metadata = metadata


class Dims:
    """The filter dimensions every fact carries (NULL: the events did not say)."""

    region_code: Mapped[str | None] = mapped_column(String(12))
    product_line: Mapped[str | None] = mapped_column(String(40))
    tier: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(40))
    network_code: Mapped[str | None] = mapped_column(String(64))
    entered_by: Mapped[str | None] = mapped_column(String(32))


class Lead(Dims, Base):
    """One record as the public topics told its life: received (accepted or refused as a duplicate), verified,
    promoted (a promotion task scheduled for it), sold (a sale attributed to it), returned, closed."""

    __tablename__ = "leads"

    lead_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(64))
    assigned_dealer: Mapped[str | None] = mapped_column(String(32))
    authorized_dealer: Mapped[str | None] = mapped_column(String(32))
    cross_region: Mapped[bool | None]
    reward_eligible: Mapped[bool | None]
    nature: Mapped[str | None] = mapped_column(String(20))
    horizon: Mapped[str | None] = mapped_column(String(40))
    customer_existed: Mapped[bool | None]
    status: Mapped[str | None] = mapped_column(String(20))  # accepted | rejected | returned | closed
    status_at: Mapped[datetime | None]  # the instant of the fact that set `status`
    received_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(String(40))
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[str | None] = mapped_column(String(20))
    promoted_at: Mapped[datetime | None]
    sold_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(40))
    lead_version: Mapped[int] = mapped_column(default=0)
    customer_masked: Mapped[dict[str, Any] | None]  # {name, phone, address}, masked
    updated_at: Mapped[datetime]

    __table_args__ = (
        # One index per instant a figure counts by (docs/console-kpis.md), partial where most rows have none, carrying
        # the columns the usual filters and conditions read (region, the dealer the figure is filtered by, product
        # line), so a filtered figure is still an index-only scan (bench/console_bench.py).
        Index("ix_leads_received", "received_at", postgresql_include=["region_code", "entered_by", "product_line"]),
        Index(
            "ix_leads_accepted",
            "accepted_at",
            postgresql_where="accepted_at IS NOT NULL",
            postgresql_include=["region_code", "entered_by", "product_line", "cross_region", "verified_at"],
        ),
        Index(
            "ix_leads_rejected",
            "rejected_at",
            postgresql_where="rejected_at IS NOT NULL",
            postgresql_include=["region_code", "entered_by", "product_line", "reject_reason"],
        ),
        Index(
            "ix_leads_verified",
            "verified_at",
            postgresql_where="verified_at IS NOT NULL",
            postgresql_include=["region_code", "entered_by", "product_line"],
        ),
        Index(
            "ix_leads_promoted",
            "promoted_at",
            postgresql_where="promoted_at IS NOT NULL",
            postgresql_include=["region_code", "assigned_dealer", "product_line"],
        ),
        Index("ix_leads_closed", "closed_at", postgresql_where="closed_at IS NOT NULL"),
        Index("ix_leads_customer", "customer_id"),
        Index("ix_leads_region", "region_code"),
    )


class Refusal(Dims, Base):
    """A record intake refused (422) before it became a lead: the collection-quality figure networks are graded by.
    Read from the refusal event when the producers publish one; the table is empty until then."""

    __tablename__ = "refusals"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dealer: Mapped[str | None] = mapped_column(String(32))
    codes: Mapped[list[str] | None] = mapped_column(JSONB)
    refused_at: Mapped[datetime]

    __table_args__ = (Index("ix_refusals_refused", "refused_at"),)


class Task(Dims, Base):
    """One task (callback, promotion, recheck, sale report, maintenance) through its events. A task is open from
    `scheduled_at` until `closed_at` (completed, cancelled, or ended by its lead's close or sale)."""

    __tablename__ = "tasks"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(30))
    dealer: Mapped[str | None] = mapped_column(String(32))
    lead_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    horizon: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str | None] = mapped_column(String(20))
    status_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(40))
    due_at: Mapped[datetime | None]
    scheduled_at: Mapped[datetime | None]  # the first instant any event of it tells of it
    completed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(30))
    overdue_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]  # an older `task.escalated` event's instant
    # when an overdue task escalates to HQ (the scheduler's deadline on its events): the escalated figure's instant
    escalate_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_tasks_lead", "lead_id"),
        Index("ix_tasks_customer", "customer_id"),
        # open at an instant: never closed (the partial index), or closed after it
        Index(
            "ix_tasks_unclosed",
            "scheduled_at",
            postgresql_where="closed_at IS NULL",
            postgresql_include=["overdue_at", "dealer", "region_code", "product_line"],
        ),
        Index(
            "ix_tasks_closed",
            "closed_at",
            "scheduled_at",
            postgresql_where="closed_at IS NOT NULL",
            postgresql_include=["overdue_at", "dealer", "region_code", "product_line"],
        ),
        Index("ix_tasks_due", "due_at"),
        Index("ix_tasks_completed", "completed_at", postgresql_where="completed_at IS NOT NULL"),
        Index("ix_tasks_overdue", "overdue_at", postgresql_where="overdue_at IS NOT NULL"),
        Index("ix_tasks_escalated", "escalated_at", postgresql_where="escalated_at IS NOT NULL"),
        Index("ix_tasks_escalate", "escalate_at", postgresql_where="escalate_at IS NOT NULL"),
    )


class Sale(Dims, Base):
    """A sale attributed to a customer (and to a lead, when one led to it), and its cancellation."""

    __tablename__ = "sales"

    sale_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(64))
    lead_id: Mapped[str | None] = mapped_column(String(64))
    seller: Mapped[str | None] = mapped_column(String(32))
    supplied_by: Mapped[str | None] = mapped_column(String(32))
    credited_dealer: Mapped[str | None] = mapped_column(String(32))
    cross_region: Mapped[bool | None]
    cross_region_exempt: Mapped[bool | None]
    violation: Mapped[str | None] = mapped_column(String(40))
    vehicles: Mapped[int] = mapped_column(default=0)
    sold_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index(
            "ix_sales_sold",
            "sold_at",
            postgresql_include=["region_code", "credited_dealer", "product_line", "cancelled_at", "vehicles"],
        ),
        Index("ix_sales_lead", "lead_id"),
        Index("ix_sales_customer", "customer_id"),
    )


class PendingSale(Dims, Base):
    """A reported sale that waited for a confirmation (sale.pending_confirmation) and how it was settled: confirmed
    (its sale.attributed names confirmed_at), rejected by the confirmer (sale.rejected) or cancelled while pending
    (sale.cancelled with was_pending). The sales table holds attributed sales only: nothing here is sold or paid."""

    __tablename__ = "pending_sales"

    sale_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(64))
    lead_id: Mapped[str | None] = mapped_column(String(64))
    seller: Mapped[str | None] = mapped_column(String(32))
    supplied_by: Mapped[str | None] = mapped_column(String(32))
    confirmer: Mapped[str | None] = mapped_column(String(32))
    vehicles: Mapped[int] = mapped_column(default=0)
    sold_at: Mapped[datetime | None]
    reported_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]  # the first of confirmed, rejected or cancelled
    outcome: Mapped[str | None] = mapped_column(String(20))  # confirmed | rejected | cancelled | None (pending)
    rejected_at: Mapped[datetime | None]
    rejected_by: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_pending_sales_reported", "reported_at"),
        Index("ix_pending_sales_rejected", "rejected_at", postgresql_where="rejected_at IS NOT NULL"),
    )


class LedgerEntry(Dims, Base):
    """A posting to a dealer's account (reward earned, or its reversal: negative)."""

    __tablename__ = "ledger_entries"

    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(30))
    dealer: Mapped[str | None] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    lead_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    sale_id: Mapped[str | None] = mapped_column(String(64))
    reverses: Mapped[str | None] = mapped_column(String(64))
    posted_at: Mapped[datetime]

    __table_args__ = (
        Index(
            "ix_ledger_posted", "posted_at", postgresql_include=["region_code", "dealer", "product_line", "amount_fen"]
        ),
        Index("ix_ledger_lead", "lead_id"),
        Index("ix_ledger_sale", "sale_id"),
    )


class Customer(Base):
    """A customer as `customer.upserted` last described it (masked), with the first instant the console saw it."""

    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    region_code: Mapped[str | None] = mapped_column(String(12))
    tier: Mapped[str | None] = mapped_column(String(20))
    assigned_dealer: Mapped[str | None] = mapped_column(String(32))
    masked: Mapped[dict[str, Any] | None]
    first_seen_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_customers_first_seen", "first_seen_at"),)


class TierChange(Dims, Base):
    """A customer's tier changed (`customer.tier_changed`); `upgraded` when the new tier ranks higher. Its region is
    the customer's, its other dimensions those of the record that raised it, when known."""

    __tablename__ = "tier_changes"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    old_tier: Mapped[str | None] = mapped_column(String(20))
    new_tier: Mapped[str | None] = mapped_column(String(20))
    upgraded: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(String(30))
    lead_id: Mapped[str | None] = mapped_column(String(64))
    changed_by: Mapped[str | None] = mapped_column(String(64))
    changed_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_tier_changes_changed", "changed_at"),
        Index("ix_tier_changes_lead", "lead_id"),
        Index("ix_tier_changes_customer", "customer_id"),
    )


class Dealer(Base):
    """A dealer as `dealer.upserted` / `dealer.withdrawn` last described it."""

    __tablename__ = "dealers"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    territories: Mapped[list[str] | None] = mapped_column(JSONB)
    product_lines: Mapped[list[str] | None] = mapped_column(JSONB)
    sales_level: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(20))
    withdrawn_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class NetworkEvaluation(Base):
    """One owner's networks evaluated for a quarter (`network.evaluated`); a later evaluation replaces it."""

    __tablename__ = "network_evaluations"

    owner: Mapped[str] = mapped_column(String(32), primary_key=True)
    quarter: Mapped[str] = mapped_column(String(8), primary_key=True)
    scope: Mapped[str | None] = mapped_column(String(20))
    evaluated_at: Mapped[datetime]
    networks: Mapped[int | None]
    networks_planned: Mapped[int | None]
    networks_developed: Mapped[int | None]
    development_completion: Mapped[float | None] = mapped_column(Float)
    development_rating: Mapped[str | None] = mapped_column(String(20))
    records: Mapped[int | None]
    verified: Mapped[int | None]
    authenticity_share: Mapped[float | None] = mapped_column(Float)
    authenticity_rating: Mapped[str | None] = mapped_column(String(20))
    class_counts: Mapped[dict[str, int] | None]
    payload: Mapped[dict[str, Any]]


class Network(Base):
    """An information network as `network.upserted` last described it: kind, scope, owner, and the grade,
    authenticity level and class ("B-2") of its last evaluated quarter."""

    __tablename__ = "networks"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(20))
    scope: Mapped[str | None] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(32))
    graded_in: Mapped[str | None] = mapped_column(String(8))
    grade: Mapped[str | None] = mapped_column(String(4))
    authenticity_level: Mapped[int | None]
    network_class: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime]


class PlanFact(Base):
    """A plan event (callback or promotion plan of a dealer for a period) as the public topics carry it: the
    quota and the lines planned when the producers publish them (plan completion against quota)."""

    __tablename__ = "plan_facts"

    dealer: Mapped[str] = mapped_column(String(32), primary_key=True)
    plan: Mapped[str] = mapped_column(String(20), primary_key=True)  # callback | promotion
    period: Mapped[str] = mapped_column(String(10), primary_key=True)  # yyyy-mm | yyyy-Www
    status: Mapped[str | None] = mapped_column(String(20))
    quota: Mapped[int | None]
    lines: Mapped[int | None]
    late: Mapped[bool | None]
    updated_at: Mapped[datetime]


class OtherEvent(Base):
    """Events of types this version does not count, kept as they came (masked public data): the history a later
    version rebuilds a new page from after the topics have forgotten them."""

    __tablename__ = "other_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(120))
    occurred_at: Mapped[datetime]
    subject: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]]

    __table_args__ = (Index("ix_other_events_type", "type", "occurred_at"),)
