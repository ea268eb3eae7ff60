"""rewards-ledger response shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


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


class EntryPage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None
