"""rewards-ledger response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictInt

from leadnet_shared.http import RequestModel
from leadnet_shared.pagination import Page


class AccountOut(BaseModel):
    dealer: str
    balance_fen: int
    earned_fen: int
    reversed_fen: int


class EntryOut(BaseModel):
    entry_id: str
    kind: str
    dealer: str
    amount_fen: int
    lead_id: str | None
    sale_id: str | None
    vin: str | None
    posted_at: datetime
    reverses: str | None
    rule: str


class EntryPage(Page[EntryOut]):
    pass


class GuaranteeIn(RequestModel):
    """HQ sets one vehicle's profit guarantee; the range is policy data, checked by the endpoint (422)."""

    amount_fen: StrictInt


class GuaranteeOut(BaseModel):
    sale_id: str
    vin: str
    amount_fen: int
    status: Literal["posted", "pending"]  # pending: the record is not verified yet; paid when it is
    entry_id: str | None
    reversed_entry_id: str | None


class PayoutDealer(BaseModel):
    dealer: str
    amount_fen: int


class PayoutOut(BaseModel):
    month: str
    status: Literal["prepared", "released"] = Field(
        description="`prepared` by one hq_admin (total fixed, guarantees frozen); `released` once a different "
        "hq_admin approved it."
    )
    closed_at: datetime = Field(description="When it was prepared.")
    closed_by: str = Field(description="Who prepared it (token subject).")
    approved_at: datetime | None = None
    approved_by: str | None = None
    total_fen: int
    dealers: list[PayoutDealer]


class StatementCustomer(BaseModel):
    name: str | None
    phone: str | None


class StatementLine(BaseModel):
    entry_id: str
    posted_at: str
    kind: str
    rule: str
    explanation: str
    lead_id: str | None
    customer_id: str | None
    customer: StatementCustomer
    sale_id: str | None
    vin: str | None
    reverses: str | None
    amount_fen: int
    running_total_fen: int


class StatementOut(BaseModel):
    dealer: str
    month: str
    timezone: str
    paid_out: bool
    opening_balance_fen: int
    total_fen: int
    closing_balance_fen: int
    lines: list[StatementLine]
