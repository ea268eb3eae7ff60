"""rewards-ledger tables: postings (one per business fact) and their balanced double-entry lines.

Both are append-only: the database refuses UPDATE and DELETE (a trigger, plus revoked privileges for the app
role), so a correction can only be a reversal posting that points at what it reverses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from leadnet_shared import columns
from leadnet_shared.db import new_metadata
from leadnet_shared.outbox import define_kit_tables

metadata = new_metadata()
OUTBOX, INBOX, KIT_STATE = define_kit_tables(metadata)

HQ_REWARD_EXPENSE = "hq:reward_expense"


def dealer_payable(dealer: str) -> str:
    return f"dealer:{dealer}:payable"


class Base(columns.Typed, DeclarativeBase):
    metadata = metadata


class Posting(Base):
    """One business fact paid (or reversed): what the API calls an entry."""

    __tablename__ = "postings"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    entry_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)  # kind + lead, kind + sale + VIN, ...
    kind: Mapped[str] = mapped_column(String(24))  # info_fee | purchase_reward | profit_guarantee | reversal
    dealer: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # what the dealer is owed by it; negative for reversals
    lead_id: Mapped[str | None] = mapped_column(String(36))
    customer_id: Mapped[str | None] = mapped_column(String(36))
    sale_id: Mapped[str | None] = mapped_column(String(36))
    vin: Mapped[str | None] = mapped_column(String(17))
    reverses: Mapped[str | None] = mapped_column(String(36))
    rule: Mapped[str] = mapped_column(String(80))
    policy_version: Mapped[str] = mapped_column(String(40))
    posted_at: Mapped[datetime]
    # The business fact a reward posting pays (`info_fee:<lead>`, `profit_guarantee:<sale>:<vin>`, ...); a fact
    # paid again after a reversal keeps its fact and gets a new idempotency key (`...#2`). None on reversals.
    fact_key: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_postings_dealer_seq", "dealer", "seq"),
        Index("ix_postings_sale", "sale_id"),
        Index("ix_postings_lead", "lead_id"),
        Index("ix_postings_dealer_posted", "dealer", "posted_at"),
    )


class Line(Base):
    """A debit (positive) or credit (negative) to one account; each posting's lines sum to zero."""

    __tablename__ = "lines"

    line_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("postings.entry_id"))
    account: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_lines_account", "account"), Index("ix_lines_entry", "entry_id"))


class Lead(Base):
    """What the ledger knows of a record, from the public lead events: eligibility facts and the masked customer."""

    __tablename__ = "leads"

    lead_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    entered_by: Mapped[str | None] = mapped_column(String(32))
    authorized_dealer: Mapped[str | None] = mapped_column(String(32))
    reward_eligible: Mapped[bool] = mapped_column(default=False)
    cross_region: Mapped[bool] = mapped_column(default=False)
    tier: Mapped[str] = mapped_column(String(24))
    product_line: Mapped[str | None] = mapped_column(String(32))
    region_code: Mapped[str | None] = mapped_column(String(6))  # the county adcode, for entry_posted (issue 20)
    # The router's `lead_version` of the facts above: an older event never overwrites them (review M4).
    lead_version: Mapped[int] = mapped_column(default=0, server_default="0")
    customer_existed: Mapped[bool | None]  # None until lead.accepted is seen
    customer_name: Mapped[str | None] = mapped_column(String(64))  # masked, as on the public topic
    customer_phone: Mapped[str | None] = mapped_column(String(32))  # masked
    verified_at: Mapped[datetime | None]  # the first verification
    updated_at: Mapped[datetime]


class Sale(Base):
    """A sale as the router attributed it; immutable. A sale whose lead is not verified yet is held here."""

    __tablename__ = "sales"

    sale_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lead_id: Mapped[str | None] = mapped_column(String(36), index=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    seller: Mapped[str] = mapped_column(String(32))
    supplied_by: Mapped[str | None] = mapped_column(String(32))
    lead_entered_by: Mapped[str | None] = mapped_column(String(32))
    violation: Mapped[str | None] = mapped_column(String(40))
    sold_at: Mapped[datetime]
    received_at: Mapped[datetime]
    # The rewards the router's attribution says this sale earns (the event's `rewards`): the ledger pays these,
    # it does not decide them again (rewards.py).
    claims: Mapped[list[dict[str, Any]]] = mapped_column(server_default="[]")


class SaleVehicle(Base):
    __tablename__ = "sale_vehicles"

    sale_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    vin: Mapped[str] = mapped_column(String(17), primary_key=True)
    product_line: Mapped[str | None] = mapped_column(String(32))


class SaleCancellation(Base):
    """A cancelled sale: recorded even before the sale itself is known, so it is never paid afterwards."""

    __tablename__ = "sale_cancellations"

    sale_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cancelled_at: Mapped[datetime]


class GuaranteeSetting(Base):
    """An amount HQ set for one vehicle's profit guarantee; append-only, the latest one applies."""

    __tablename__ = "guarantee_settings"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    sale_id: Mapped[str] = mapped_column(String(36))
    vin: Mapped[str] = mapped_column(String(17))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    set_by: Mapped[str] = mapped_column(String(100))
    set_at: Mapped[datetime]

    __table_args__ = (Index("ix_guarantee_settings_sale_vin", "sale_id", "vin", "seq"),)


class Payout(Base):
    """A prepared monthly payout: its total is fixed and its guarantees can no longer be changed; it is released
    (paid out) only when a second hq_admin approves it (`PayoutApproval`)."""

    __tablename__ = "payouts"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # yyyy-mm, Asia/Shanghai
    closed_at: Mapped[datetime]
    closed_by: Mapped[str] = mapped_column(String(100))
    total_fen: Mapped[int] = mapped_column(BigInteger)


class PayoutApproval(Base):
    """The second hq_admin's approval that releases a prepared payout (append-only, one per month)."""

    __tablename__ = "payout_approvals"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    approved_at: Mapped[datetime]
    approved_by: Mapped[str] = mapped_column(String(100))
