"""The blocks of the record shape (contract.md) as a caller may send them again after the record: vehicles in use,
usage and purchase intent. One definition for the router's customer-file corrections (`PATCH /v1/customers/{id}`)
and the scheduler's callback content (`POST /v1/tasks/{id}/complete`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from leadnet_shared.http import RequestModel

# A product line code (the policy's keys: tractor, dump, ...): lower-case, at most 24 characters, as stored.
PRODUCT_LINE = r"^[a-z][a-z0-9_]{0,23}$"

Horizon = Literal[
    "within_1_week",
    "within_2_weeks",
    "within_3_weeks",
    "within_4_weeks",
    "within_2_months",
    "within_6_months",
    "within_1_year",
    "uncertain",
    "none",
]


class VehicleInUseIn(RequestModel):
    """One line of the vehicles in use (contract.md record shape)."""

    brand: str = Field(min_length=1, max_length=50)
    model: str | None = Field(None, max_length=100)
    quantity: int = Field(ge=1, le=10_000)
    function: str | None = Field(None, max_length=50)
    horsepower: int | None = Field(None, ge=1, le=2000)
    body_spec: str | None = Field(None, max_length=100)


class UsageIn(RequestModel):
    cargo: str | None = Field(None, max_length=100)
    load_tons: float | None = Field(None, ge=0, le=1000)
    haul_distance_km: float | None = Field(None, ge=0, le=100_000)
    consumer_credit: str | None = Field(None, max_length=100)
    insurance: str | None = Field(None, max_length=100)


class PurchaseIntentIn(RequestModel):
    brand: str | None = Field(None, max_length=50)
    model: str | None = Field(None, max_length=100)
    quantity: int | None = Field(None, ge=1, le=10_000)
    function: str | None = Field(None, max_length=50)
    horsepower: int | None = Field(None, ge=1, le=2000)
    body_spec: str | None = Field(None, max_length=100)
    product_line: str | None = Field(None, pattern=PRODUCT_LINE, max_length=24)
    horizon: Horizon | None = None
