"""followup-scheduler tables: tasks (the durable timers) and a read model of the leads they follow."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Identity, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from leadnet_shared import columns
from leadnet_shared.db import new_metadata
from leadnet_shared.dealer_directory import dealer_directory_table
from leadnet_shared.idempotency import idempotency_table
from leadnet_shared.outbox import define_kit_tables

metadata = new_metadata()
OUTBOX, INBOX, KIT_STATE = define_kit_tables(metadata)
# Dealers known from `leadnet.dealer.*`: who gets plan reminders, and whose tokens may write
# (leadnet_shared.dealer_directory).
DEALERS = dealer_directory_table(metadata)
TASK_IDEMPOTENCY_KEYS = idempotency_table(metadata, "task_idempotency_keys")


class Base(columns.Typed, DeclarativeBase):
    metadata = metadata


class Task(Base):
    __tablename__ = "tasks"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str] = mapped_column(String(36))
    dealer: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))  # callback | promotion | maintenance | repurchase | sale_report
    due_at: Mapped[datetime]
    overdue_at: Mapped[datetime]
    escalate_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | done | overdue | cancelled
    reason: Mapped[str] = mapped_column(Text)
    policy_version: Mapped[str | None] = mapped_column(String(40))
    tier: Mapped[str] = mapped_column(String(20))
    tie_break: Mapped[int]  # demand, reachable, big customer first (domain.md §4)
    unreachable_streak: Mapped[int] = mapped_column(default=0)
    # The approved work plan that planned this task (work_plans.py) and the date it set; NULL: unplanned.
    plan_id: Mapped[str | None] = mapped_column(String(36))
    planned_for: Mapped[date | None] = mapped_column(Date)
    fired_at: Mapped[datetime | None]
    overdue_fired_at: Mapped[datetime | None]
    # When a per-task `task.escalated` went out; the daily overdue digest (firing.send_overdue_digests) replaced it
    # and writes no task, so only older tasks have it.
    escalated_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # When the task was planned, by the service clock (created_at is the database's): plan figures count by it.
    planned_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(24))
    notes: Mapped[str | None] = mapped_column(Text)
    # What a callback learnt, as data (domain.md §4 "How"; schemas.CallbackContentIn), as the dealer reported it.
    content: Mapped[dict[str, Any] | None]
    # Who works it and how (staffing.py: the staff and method matrices, domain.md §4-5), set when the task is
    # planned or rescheduled; None for kinds the matrices do not staff.
    position: Mapped[str | None] = mapped_column(String(32))
    method: Mapped[str | None] = mapped_column(String(24))
    accompany: Mapped[list[str] | None] = mapped_column(JSONB)
    # A promotion's action (domain.md §5 "reports each action's result within 2 days of carrying it out"): when it
    # was carried out, by when the result was due, and whether the report (the completion) came later.
    action_at: Mapped[datetime | None]
    result_due_at: Mapped[datetime | None]
    result_late: Mapped[bool | None]
    # How often the task was rescheduled: part of its timer events' ids, so a re-armed task fires again, once.
    reschedules: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        # The timer wheel: only tasks still waiting to fire are indexed, so 10 million done tasks cost nothing.
        Index("ix_tasks_due_unfired", "due_at", postgresql_where=text("fired_at IS NULL AND status = 'open'")),
        Index(
            "ix_tasks_overdue_pending",
            "overdue_at",
            postgresql_where=text("overdue_fired_at IS NULL AND status = 'open'"),
        ),
        Index(
            "ix_tasks_dealer_open",
            "dealer",
            "due_at",
            "tie_break",
            postgresql_where=text("status IN ('open', 'overdue')"),
        ),
        Index("ix_tasks_lead", "lead_id"),
        Index(
            "ix_tasks_dealer_kind_completed",
            "dealer",
            "kind",
            "completed_at",
            postgresql_where=text("completed_at IS NOT NULL"),
        ),
        Index("ix_tasks_dealer_promotions", "dealer", "planned_at", postgresql_where=text("kind = 'promotion'")),
        Index("ix_tasks_customer_open", "customer_id", postgresql_where=text("status IN ('open', 'overdue')")),
        # A position's work list (GET /v1/tasks?position=...), in the list's order.
        Index(
            "ix_tasks_dealer_position_open",
            "dealer",
            "position",
            "due_at",
            "tie_break",
            postgresql_where=text("status IN ('open', 'overdue')"),
        ),
        # The daily overdue digest counts each dealer's overdue tasks (escalation.py).
        Index("ix_tasks_overdue_by_dealer", "dealer", "escalate_at", postgresql_where=text("status = 'overdue'")),
    )


class TaskAction(Base):
    """Who did what to a task (issue 18: every task action records the person and the position that acted).

    One row per action a person takes (created by hand, completed, rescheduled); what the rules do on their own
    (planning from a routed lead, the timers) is the task's own columns and events."""

    __tablename__ = "task_actions"

    action_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(20))  # created | completed | rescheduled
    actor: Mapped[str] = mapped_column(String(100))  # the token's sub
    actor_position: Mapped[str | None] = mapped_column(String(32))
    acted_at: Mapped[datetime]
    detail: Mapped[dict[str, Any] | None]


class OverdueDigestDay(Base):
    """One row per Shanghai day the overdue digest ran: the key makes it run once a day across replicas."""

    __tablename__ = "overdue_digest_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    ran_at: Mapped[datetime]
    dealers: Mapped[int]


class FollowedLead(Base):
    """What the scheduler knows of a routed lead (no personal data): enough to plan and to verify it."""

    __tablename__ = "leads"

    lead_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    entered_by: Mapped[str | None] = mapped_column(String(32))
    assigned_dealer: Mapped[str | None] = mapped_column(String(32))
    authorized_dealer: Mapped[str | None] = mapped_column(String(32))
    cross_region: Mapped[bool] = mapped_column(default=False)
    reward_eligible: Mapped[bool] = mapped_column(default=False)
    tier: Mapped[str] = mapped_column(String(20))
    nature: Mapped[str] = mapped_column(String(20))
    region_code: Mapped[str | None] = mapped_column(String(6))
    product_line: Mapped[str | None] = mapped_column(String(32))
    horizon: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(40))
    network_code: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[str | None] = mapped_column(String(20))  # callback | sale: what proved the record true
    routed_at: Mapped[datetime]
    # Consecutive callbacks that could not reach the customer, whichever task they were on (domain.md §4).
    unreachable_streak: Mapped[int] = mapped_column(default=0)
    # Vehicles in use when the record was entered (lead.accepted `fleet`), None when the record had none.
    fleet_vehicles: Mapped[int | None]
    purchased_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(40))
    # The router's `lead_version` of the dealer stored here: an older reassignment never overwrites a newer one.
    lead_version: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (Index("ix_leads_customer_id", "customer_id"),)


class CustomerSale(Base):
    """A confirmed sale the router attributed (`leadnet.sale.attributed`): what stops prospecting, verifies the
    record, closes the sale report and starts relationship maintenance for the buying dealer (sale_followup.py).
    Kept so that a sale that overtakes its lead's verdict still applies when the verdict comes."""

    __tablename__ = "customer_sales"

    sale_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    lead_id: Mapped[str | None] = mapped_column(String(36))
    seller: Mapped[str] = mapped_column(String(32))
    vehicles: Mapped[int]
    sold_at: Mapped[datetime]
    attributed_at: Mapped[datetime]


class CustomerTier(Base):
    """The customer's current tier and nature as the router decided them (`leadnet.customer.tier_changed`)."""

    __tablename__ = "customer_tiers"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tier: Mapped[str] = mapped_column(String(20))
    nature: Mapped[str | None] = mapped_column(String(20))
    changed_at: Mapped[datetime]


class Plan(Base):
    """A dealer's monthly sales plan and, optionally, its planned callback and promotion counts."""

    __tablename__ = "plans"

    dealer: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # yyyy-mm (Shanghai)
    sales_plan: Mapped[int]
    callbacks_planned: Mapped[int | None]
    promotions_planned: Mapped[int | None]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))


class SentPlanReminder(Base):
    """One row per reminder sent: the unique key is what makes a reminder go out once across replicas."""

    __tablename__ = "plan_reminders"

    dealer: Mapped[str] = mapped_column(String(32), primary_key=True)
    plan: Mapped[str] = mapped_column(String(20), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    days_before: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime]


class WorkPlan(Base):
    """A dealer's monthly callback plan or weekly promotion plan (work_plans.py): its lines, where it stands on the
    approval chain (policy/work_plans.toml) and whether it came in late."""

    __tablename__ = "work_plans"

    plan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dealer: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))  # callback (period yyyy-mm) | promotion (period yyyy-Www)
    period: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20))  # draft | submitted | approved | rejected
    stage: Mapped[str | None] = mapped_column(String(40))  # the stage a submitted plan waits at
    quota: Mapped[int]
    due_by: Mapped[datetime]
    late: Mapped[bool] = mapped_column(default=False)
    late_flagged_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    line_count: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_position: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index("ux_work_plans_dealer_kind_period", "dealer", "kind", "period", unique=True),)


class WorkPlanLine(Base):
    """One customer in a plan: when, by whom (position) and how (method)."""

    __tablename__ = "work_plan_lines"

    plan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    line_no: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    lead_id: Mapped[str] = mapped_column(String(36))
    tier: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(40))
    target_date: Mapped[date] = mapped_column(Date)
    position: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(36))  # the task the approval set or created


class WorkPlanStep(Base):
    """Who did what to a plan and when: saved, submitted, reviewed, approved, rejected, late."""

    __tablename__ = "work_plan_steps"

    step_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str | None] = mapped_column(String(40))
    sub: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(20))
    position: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class PlanDealerUnit(Base):
    """Where a dealer sits in the four management levels (region, sales channel), from `leadnet.dealer.upserted`."""

    __tablename__ = "plan_dealer_units"

    dealer: Mapped[str] = mapped_column(String(32), primary_key=True)
    region: Mapped[str | None] = mapped_column(String(6))
    channel: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime]
