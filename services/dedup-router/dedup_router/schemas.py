"""dedup-router request/response shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class DealerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)
    territories: list[str] = Field(min_length=1)
    product_lines: list[str] = Field(min_length=1)
    capability: int = Field(ge=0, le=1000)
    sales_level: str | None = None


class DealerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    territories: list[str] | None = Field(None, min_length=1)
    product_lines: list[str] | None = Field(None, min_length=1)
    capability: int | None = Field(None, ge=0, le=1000)
    sales_level: str | None = None


class DealerOut(BaseModel):
    code: str
    name: str
    territories: list[str]
    product_lines: list[str]
    capability: int
    sales_level: str | None
    status: str


class CustomerOut(BaseModel):
    customer_id: str
    name: str | None
    phone: str | None
    address: str | None
    region_code: str
    tier: str
    nature: str
    assigned_dealer: str | None
    protected_by: str | None
    protection_until: datetime | None
    masked: bool


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None
