"""rewards-ledger tables: postings (one per business fact) and their balanced double-entry lines.

Both are append-only: the database refuses UPDATE and DELETE (a trigger, plus revoked privileges for the app
role), so a correction can only be a reversal posting that points at what it reverses.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from leadnet_shared.db import new_metadata
from leadnet_shared.outbox import define_kit_tables

metadata = new_metadata()
OUTBOX, INBOX, KIT_STATE = define_kit_tables(metadata)

HQ_REWARD_EXPENSE = "hq:reward_expense"


def dealer_payable(dealer: str) -> str:
    return f"dealer:{dealer}:payable"


class Base(DeclarativeBase):
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
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_postings_dealer_seq", "dealer", "seq"), Index("ix_postings_sale", "sale_id"))


class Line(Base):
    """A debit (positive) or credit (negative) to one account; each posting's lines sum to zero."""

    __tablename__ = "lines"

    line_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("postings.entry_id"))
    account: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_lines_account", "account"), Index("ix_lines_entry", "entry_id"))
