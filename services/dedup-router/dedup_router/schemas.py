"""dedup-router request/response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from leadnet_shared.events import PartyType, SalesLevel
from leadnet_shared.http import RequestModel
from leadnet_shared.pagination import Page
from leadnet_shared.phone import InvalidPhone, normalize_phone
from leadnet_shared.record_blocks import PRODUCT_LINE, PurchaseIntentIn, UsageIn, VehicleInUseIn


class DealerIn(RequestModel):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)
    territories: list[str] = Field(min_length=1)
    product_lines: list[str] = Field(min_length=1)
    capability: int = Field(ge=0, le=1000)
    sales_level: SalesLevel | None = None
    # domain.md §1: a service provider is expected 5 (exclusive) or 6 network kinds, a dealer 12-14 by sales level
    party_type: PartyType = "dealer"


class DealerPatch(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    territories: list[str] | None = Field(None, min_length=1)
    product_lines: list[str] | None = Field(None, min_length=1)
    capability: int | None = Field(None, ge=0, le=1000)
    sales_level: SalesLevel | None = None
    party_type: PartyType | None = None


class DealerOut(BaseModel):
    code: str
    name: str
    territories: list[str]
    product_lines: list[str]
    capability: int
    sales_level: str | None
    party_type: str
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
    protected_by: str | None = Field(
        description="Only for HQ and the dealers the customer is with (assigned or protecting); the protection "
        "lookup follows the same rule."
    )
    protection_until: datetime | None = Field(description="Told to the same callers as protected_by.")
    masked: bool


class CustomerPage(Page[CustomerOut]):
    pass


class AssignIn(RequestModel):
    """HQ's choice of dealer for a customer waiting in the HQ queue."""

    dealer: str = Field(min_length=1, max_length=32)


class DealerChangeOut(DealerOut):
    """A dealer as registered or changed, with how many queued leads it (or a dealer sharing its territory) got."""

    rerouted_from_queue: int = 0


class ProtectionLookupIn(RequestModel):
    """The phone travels in a body, never in a URL: URLs end up in proxy and access logs."""

    phone: str = Field(min_length=1, max_length=40)


class ProtectionOut(BaseModel):
    """What a dealer may learn before entering a record: protected or not, and until when; nothing personal."""

    protected: bool
    protection_until: datetime | None = None
    protected_by: str | None = Field(
        None, description="Only for HQ and the dealers the customer is with (assigned or protecting)."
    )
    protected_by_you: bool = False
    disclosed: bool = Field(
        True,
        description="False: the caller is a dealer the customer is not with (or the "
        "phone is no customer); it learns nothing either way.",
    )


class WithdrawalOut(BaseModel):
    reassigned: int
    unplaced: int
    per_dealer: dict[str, int]
    dry_run: bool = False
    withdrawn_dealer: str | None = None


DEALER_CODE = r"^[A-Za-z0-9_-]+$"


def _no_control_characters(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("control characters are not allowed")
    return value


class SoldVehicleIn(RequestModel):
    vin: str = Field(
        max_length=40,
        description="17 characters, no I, O or Q, with a valid check digit (GB 16735); "
        "upper-cased before checking; must be in the vehicle registry.",
    )
    model: str | None = Field(None, max_length=100, description="Ignored: the registry's model is recorded.")
    product_line: str | None = Field(
        None, max_length=32, description="Ignored: the registry's product line decides the rewards."
    )

    @field_validator("vin", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


class SaleIn(RequestModel):
    customer_phone: str = Field(min_length=1, max_length=40)
    sold_at: AwareDatetime
    supplied_by: str | None = Field(
        None,
        max_length=32,
        pattern=DEALER_CODE,
        description="Defaults to the seller. Another dealer must confirm the sale.",
    )
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
    pending_on: list[Literal["sale_confirmation", "record_verification"]] = Field(
        default_factory=list,
        description="What must still happen before the ledger posts it: `sale_confirmation` (by the supplier or "
        "HQ), `record_verification` (the ledger pays once the record is verified true and valid, at "
        "once if it already is). The ledger pays nothing a sale's answer does not list.",
    )


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
    status: Literal["pending_confirmation", "attributed", "rejected", "cancelled"]
    awaiting_confirmation_by: str | None = Field(
        None,
        description="While pending: the supplying dealer's code, or `hq` (more vehicles than the record "
        "intends to buy).",
    )
    decided_at: datetime | None = None
    cancelled_at: datetime | None = None


class SalePage(Page[SaleOut]):
    pass


class VehicleIn(RequestModel):
    """One vehicle of the maker's registry: who holds it (the dealer it was delivered to), model, product line."""

    vin: str = Field(max_length=40, description="Upper-cased; must carry a valid check digit (GB 16735).")
    model: str = Field(min_length=1, max_length=100)
    product_line: str = Field(pattern=PRODUCT_LINE, max_length=24)
    delivered_to: str = Field(min_length=1, max_length=32, pattern=DEALER_CODE)
    delivered_at: AwareDatetime

    @field_validator("vin", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return _no_control_characters(value)


class VehiclesIn(RequestModel):
    vehicles: list[VehicleIn] = Field(min_length=1, max_length=1000)


class VehicleOut(BaseModel):
    vin: str
    model: str
    product_line: str
    delivered_to: str
    delivered_at: datetime


class VehiclesOut(BaseModel):
    created: int
    updated: int


# ---- the customer file (PATCH /v1/customers/{id}, GET /v1/customers/{id}/timeline) ----------------------------


class CustomerPatch(RequestModel):
    """A correction of the customer file: only the fields given change; none may be null. The region (and with it
    the routing) is not changed here: an address correction keeps the customer's region code."""

    phone: str | None = Field(
        None, min_length=1, max_length=40, description="Any usual mainland formatting; stored as E.164."
    )
    name: str | None = Field(None, min_length=1, max_length=200)
    address: str | None = Field(None, min_length=1, max_length=500)
    vehicles_in_use: list[VehicleInUseIn] | None = Field(None, min_length=1, max_length=200)
    usage: UsageIn | None = None
    purchase_intent: PurchaseIntentIn | None = None
    # A correction may move the tier either way (a later record only raises it): `leadnet.customer.tier_changed`.
    tier: Literal["gold_silver", "general_big", "retail"] | None = None
    nature: Literal["new", "own_brand", "competitor"] | None = None

    @field_validator(
        "phone", "name", "address", "vehicles_in_use", "usage", "purchase_intent", "tier", "nature", mode="before"
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only a field the body gives is validated: an absent one stays as it is, a null one is refused.
        if value is None:
            raise PydanticCustomError("null_not_allowed", "null is not a correction; leave the field out")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_phone(value)
        except InvalidPhone as exc:
            raise PydanticCustomError("invalid_phone", exc.message) from None

    @field_validator("name", "address")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise PydanticCustomError("string_too_short", "must not be blank")
        return _no_control_characters(value)


class CustomerFileOut(CustomerOut):
    """The customer (masked per role) with the blocks of its file."""

    vehicles_in_use: list[dict[str, Any]] | None = None
    usage: dict[str, Any] | None = None
    purchase_intent: dict[str, Any] | None = None
    change_id: str | None = Field(None, description="The correction this answer made, if any.")


class TimelineItem(BaseModel):
    event_id: str
    type: str = Field(description="The event type, e.g. `leadnet.lead.accepted`; types added later appear as is.")
    occurred_at: datetime
    actor: str | None = Field(None, description="The person (token subject) who did it, when the fact names one.")
    dealer: str | None = Field(None, description="The dealer the fact is by or about.")
    service: str | None = Field(None, description="The service that published it.")
    summary: dict[str, Any] = Field(description="The fact's data, masked per role like the customer.")


class TimelinePage(Page[TimelineItem]):
    pass
