"""dedup-router request/response shapes."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from leadnet_shared.http import RequestModel
from leadnet_shared.pagination import Page


class DealerIn(RequestModel):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)
    territories: list[str] = Field(min_length=1)
    product_lines: list[str] = Field(min_length=1)
    capability: int = Field(ge=0, le=1000)
    sales_level: str | None = None


class DealerPatch(RequestModel):
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


class CustomerPage(Page[CustomerOut]):
    pass


class ProtectionLookupIn(RequestModel):
    """The phone travels in a body, never in a URL: URLs end up in proxy and access logs."""

    phone: str = Field(min_length=1, max_length=40)


class ProtectionOut(BaseModel):
    """What a dealer may learn before entering a record: protected or not, and until when; nothing personal."""

    protected: bool
    protection_until: datetime | None = None
    protected_by: str | None = Field(None, description="Only for HQ and for the protecting dealer itself.")
    protected_by_you: bool = False


class WithdrawalOut(BaseModel):
    reassigned: int
    unplaced: int
    per_dealer: dict[str, int]
    dry_run: bool = False
    withdrawn_dealer: str | None = None


VIN_PATTERN = r"^[A-HJ-NPR-Z0-9]{17}$"


class SoldVehicleIn(RequestModel):
    vin: str = Field(description="17 characters, no I, O or Q; upper-cased before checking.")
    model: str | None = Field(None, max_length=100)
    product_line: str | None = Field(None, max_length=32)

    @field_validator("vin", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("vin")
    @classmethod
    def _vin(cls, value: str) -> str:
        if not re.fullmatch(VIN_PATTERN, value):
            raise ValueError("a VIN is 17 letters and digits without I, O or Q")
        return value


class SaleIn(RequestModel):
    customer_phone: str = Field(min_length=1, max_length=40)
    sold_at: AwareDatetime
    supplied_by: str | None = Field(None, max_length=32, description="Defaults to the seller.")
    vehicles: list[SoldVehicleIn] = Field(min_length=1, max_length=200)

    @field_validator("vehicles")
    @classmethod
    def _distinct_vins(cls, value: list[SoldVehicleIn]) -> list[SoldVehicleIn]:
        vins = [v.vin for v in value]
        if len(set(vins)) != len(vins):
            raise ValueError("a VIN appears twice in this sale")
        return value


class RewardOut(BaseModel):
    kind: str
    dealer: str
    amount_fen: int
    lead_id: str | None = None
    vin: str | None = None
    product_line: str | None = None


class SaleOut(BaseModel):
    sale_id: str
    customer_id: str
    attributed_lead_id: str | None
    seller: str
    supplied_by: str
    sold_at: datetime
    credited_dealer: str | None
    cross_region_exempt: bool
    violation: str | None
    rewards: list[RewardOut]
    status: str
    cancelled_at: datetime | None = None
