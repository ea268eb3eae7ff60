"""Tables of the network and collection procedures (domain.md §1–2): the quarterly evaluations, one row per owner
and quarter (the row is the proof that the evaluation ran once), development plans, collection plans and their
breakdowns, reminders and hand-on flags. What intake knows of each dealer is in `models.DEALERS`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lead_intake.models import Base


class NetworkEvaluation(Base):
    """One owner's networks over one quarter (HQ: national networks; a dealer: its regional ones)."""

    __tablename__ = "network_evaluations"

    owner: Mapped[str] = mapped_column(String(32), primary_key=True)
    quarter: Mapped[str] = mapped_column(String(6), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    evaluated_at: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(16))  # timer | on_demand
    policy_versions: Mapped[dict[str, Any]]
    networks_planned: Mapped[int | None]
    networks_developed: Mapped[int]
    development_completion: Mapped[float | None] = mapped_column(Float)
    development_rating: Mapped[str | None] = mapped_column(String(16))
    networks: Mapped[int]
    records: Mapped[int]
    verified: Mapped[int]
    authenticity_share: Mapped[float | None] = mapped_column(Float)
    authenticity_rating: Mapped[str | None] = mapped_column(String(16))
    sales_level: Mapped[str | None] = mapped_column(String(20))
    kinds_expected: Mapped[int | None]
    kinds_present: Mapped[list[str]] = mapped_column(JSONB)
    class_counts: Mapped[dict[str, int]]
    lines: Mapped[list[dict[str, Any]]]  # per network: grade, level, frequency, quality

    __table_args__ = (Index("ix_network_evaluations_quarter", "quarter", "owner"),)


class LastEdit:
    """Who filed or last corrected a plan, and when: the last columns of every plan table."""

    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(80))


class NetworkDevelopmentPlan(LastEdit, Base):
    """How many networks an owner plans to develop in a period: fixed ones per quarter, temporary ones per month."""

    __tablename__ = "network_development_plans"

    owner: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # 2027Q1 | 2027-01
    kind: Mapped[str] = mapped_column(String(16))  # fixed | temporary
    quarter: Mapped[str] = mapped_column(String(6))
    planned_networks: Mapped[int]
    responsible: Mapped[dict[str, str]]
    due_by: Mapped[datetime]
    first_submitted_at: Mapped[datetime]
    late: Mapped[bool]  # first filed after due_by

    __table_args__ = (Index("ix_network_development_plans_quarter", "quarter", "owner"),)


class CollectionBreakdown(LastEdit, Base):
    """A dealer's second-level breakdown of its month's collection target: per network and per person."""

    __tablename__ = "collection_breakdowns"

    dealer: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # 2026-10
    networks: Mapped[dict[str, int]]
    people: Mapped[dict[str, int]]


class NetworkPlanReminderSent(Base):
    """The proof that an owner was reminded of a plan once, however many replicas run the timer."""

    __tablename__ = "network_plan_reminders"

    owner: Mapped[str] = mapped_column(String(32), primary_key=True)
    # network_development | network_evaluation | collection_hand_on
    deadline: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    days_before: Mapped[int] = mapped_column(primary_key=True)
    sent_at: Mapped[datetime]


class CollectionPlan(LastEdit, Base):
    """HQ's monthly collection plan (domain.md §2 "Plans"): fixed counts by industry, and per national network."""

    __tablename__ = "collection_plans"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    industries: Mapped[dict[str, int]]
    networks: Mapped[dict[str, int]]
    total: Mapped[int]
    issued_at: Mapped[datetime]


class CollectionHandOn(Base):
    """A dealer's month's hand-on, judged once after the 25th: met, or short (flagged)."""

    __tablename__ = "collection_hand_ons"

    dealer: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    target: Mapped[int]
    handed_on: Mapped[int]
    met: Mapped[bool]
    judged_at: Mapped[datetime]
