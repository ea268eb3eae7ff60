"""followup-scheduler tables: tasks (the durable timers) and a read model of the leads they follow."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from leadnet_shared.db import new_metadata
from leadnet_shared.outbox import define_kit_tables

metadata = new_metadata()
OUTBOX, INBOX, KIT_STATE = define_kit_tables(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class Task(Base):
    __tablename__ = "tasks"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str] = mapped_column(String(36))
    dealer: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))  # callback | promotion | maintenance | repurchase
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    escalate_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | done | overdue | cancelled
    reason: Mapped[str] = mapped_column(Text)
    policy_version: Mapped[str | None] = mapped_column(String(40))
    tier: Mapped[str] = mapped_column(String(20))
    tie_break: Mapped[int] = mapped_column(Integer)  # demand, reachable, big customer first (domain.md §4)
    unreachable_streak: Mapped[int] = mapped_column(Integer, default=0)
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(24))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        # The timer wheel: only tasks still waiting to fire are indexed, so 10 million done tasks cost nothing.
        Index("ix_tasks_due_unfired", "due_at", postgresql_where=text("fired_at IS NULL AND status = 'open'")),
        Index("ix_tasks_overdue_pending", "overdue_at",
              postgresql_where=text("overdue_fired_at IS NULL AND status = 'open'")),
        Index("ix_tasks_dealer_open", "dealer", "due_at", "tie_break",
              postgresql_where=text("status IN ('open', 'overdue')")),
        Index("ix_tasks_lead", "lead_id"),
    )


class FollowedLead(Base):
    """What the scheduler knows of a routed lead (no personal data): enough to plan and to verify it."""

    __tablename__ = "leads"

    lead_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    entered_by: Mapped[str | None] = mapped_column(String(32))
    assigned_dealer: Mapped[str | None] = mapped_column(String(32))
    authorized_dealer: Mapped[str | None] = mapped_column(String(32))
    cross_region: Mapped[bool] = mapped_column(Boolean, default=False)
    reward_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    tier: Mapped[str] = mapped_column(String(20))
    nature: Mapped[str] = mapped_column(String(20))
    region_code: Mapped[str | None] = mapped_column(String(6))
    product_line: Mapped[str | None] = mapped_column(String(32))
    horizon: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(40))
    network_code: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    routed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
