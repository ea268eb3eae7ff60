"""The customer file (contract.md "Lead life cycle across the services"; domain.md §4 "How"): contact data, vehicles
in use, usage and purchase intent, corrected by the assigned dealer or HQ, every change kept.

- `correct_customer` is the one way the file changes after routing: one row per changed field in `customer_changes`
  (old, new, who, when), the registry and profile updated, the duplicate keys recomputed by the routing code's own
  functions (the phone normalized by the kit's normalizer is the identity; a new name or fleet gets new
  `name_county` / `fleet_city` keys from `possible_duplicates.duplicate_keys`), and a masked
  `leadnet.customer.corrected` plus `leadnet.customer.upserted` published, the correction kept in the timeline.
- What a callback learns travels on `leadnet.task.completed` (masked) and shows in the timeline; it is not applied
  to the file by itself. Contact corrections cannot be (their values never go on a public topic), and one path for
  every change keeps the history honest: the dealer applies what the callback learnt with `PATCH`.
- The profile blocks follow the newest accepted record (`remember_profiles`, in the routing transaction), then the
  corrections.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.confidentiality import customer_out
from dedup_router.customer_tiers import change_customer_tier
from dedup_router.events import publish_customer_tier_changed, publish_customer_upserted
from dedup_router.models import Customer, CustomerChange, CustomerProfile, DecidedLead
from dedup_router.possible_duplicates import duplicate_keys
from dedup_router.repository.customer_file import (
    add_changes,
    add_profile,
    profile_of,
    record_timeline,
    upsert_profiles,
)
from dedup_router.repository.customers import file_customer, phone_taken
from dedup_router.routing import _vehicles
from dedup_router.schemas import CustomerFileOut, CustomerPatch
from dedup_router.timeline import timeline_row
from leadnet_shared.auth import Principal
from leadnet_shared.events import CustomerCorrected, FieldCorrection, LeadSubmitted, make_envelope
from leadnet_shared.masking import mask_address, mask_name, mask_phone
from leadnet_shared.outbox import Outbox
from leadnet_shared.problems import Conflict, NotFound

CONTACT_FIELDS = ("phone", "name", "address")
PROFILE_FIELDS = ("vehicles_in_use", "usage", "purchase_intent")
CLASS_FIELDS = ("tier", "nature")  # the customer's class: timing and protection follow it


def file_out(
    customer: Customer, profile: CustomerProfile | None, principal: Principal, *, change_id: str | None = None
) -> CustomerFileOut:
    return CustomerFileOut(
        **customer_out(customer, principal).model_dump(),
        vehicles_in_use=profile.vehicles_in_use if profile else None,
        usage=profile.usage if profile else None,
        purchase_intent=profile.purchase_intent if profile else None,
        change_id=change_id,
    )


def _masked(field: str, value: Any, region_code: str) -> Any:
    if field == "phone":
        return mask_phone(value)
    if field == "name":
        return mask_name(value)
    if field == "address":
        return mask_address(value, region_code)
    return value  # vehicles, usage, intent: no personal data


async def correct_customer(
    session: AsyncSession,
    outbox: Outbox,
    *,
    customer_id: str,
    patch: CustomerPatch,
    principal: Principal,
    now: datetime,
) -> CustomerFileOut:
    """Apply a correction (the assigned dealer's or HQ's), keep its history, publish it masked."""
    customer = await file_customer(session, customer_id, principal, for_update=True)
    if customer is None:
        raise NotFound("No such customer.")
    profile = await profile_of(session, customer_id, for_update=True)
    given = patch.model_dump(exclude_unset=True, mode="json")
    changes: list[tuple[str, Any, Any]] = []
    for field in (*CONTACT_FIELDS, *PROFILE_FIELDS, *CLASS_FIELDS):  # the order the history keeps them in
        holder = profile if field in PROFILE_FIELDS else customer
        old = getattr(holder, field) if holder else None
        if field in given and given[field] != old:
            changes.append((field, old, given[field]))
    if not changes:
        return file_out(customer, profile, principal)

    phone_changed = "phone" in given and given["phone"] != customer.phone
    if phone_changed and await phone_taken(session, given["phone"], by_other_than=customer.customer_id):
        raise _phone_taken()
    if profile is None:
        profile = add_profile(session, customer_id)
    changed = {field for field, _, _ in changes}
    # Tier and nature through the one decision (customer_tiers), which also says so to the other services.
    tier_changed = change_customer_tier(
        customer,
        tier=given.get("tier", customer.tier),
        nature=given.get("nature"),
        reason="correction",
        now=now,
        changed_by=principal.dealer or principal.sub,
    )
    for field, _, new in changes:
        if field in PROFILE_FIELDS:
            setattr(profile, field, new)
        elif field in CONTACT_FIELDS:
            setattr(customer, field, new)
    _recompute_duplicate_keys(customer, profile, changed=changed)
    customer.updated_at = now
    profile.updated_at = now
    try:
        await session.flush()
    except IntegrityError:  # the phone was registered by a record routed meanwhile
        raise _phone_taken() from None

    change_id = str(uuid.uuid4())
    add_changes(
        session,
        (
            CustomerChange(
                change_id=change_id,
                customer_id=customer_id,
                field=field,
                old_value=old,
                new_value=new,
                changed_by=principal.sub,
                changed_by_role=principal.role,
                changed_by_dealer=principal.dealer,
                changed_at=now,
            )
            for field, old, new in changes
        ),
    )
    event = CustomerCorrected(
        customer_id=customer_id,
        change_id=change_id,
        actor=principal.sub,
        actor_role=principal.role,
        dealer=principal.dealer,
        assigned_dealer=customer.assigned_dealer,
        changes=[
            FieldCorrection(
                field=field,
                old=_masked(field, old, customer.region_code),
                new=_masked(field, new, customer.region_code),
            )
            for field, old, new in changes
        ],
        corrected_at=now,
    )
    await outbox.publish(session, event, key=customer_id, subject=customer_id, time=now, event_id=change_id)
    if tier_changed is not None:
        await publish_customer_tier_changed(session, outbox, event=tier_changed)
    await publish_customer_upserted(session, outbox, customer=customer, now=now)
    # The timeline row of the correction as its consumer would record it, written now so the answer can show it.
    row = timeline_row(
        make_envelope(data=event, source=outbox.source, time=now, subject=customer_id, event_id=change_id)
    )
    assert row is not None
    await record_timeline(session, [row])
    await session.flush()
    return file_out(customer, profile, principal, change_id=change_id)


def _phone_taken() -> Conflict:
    return Conflict(
        "Another customer already has this phone number; the same phone is the same customer.",
        code="phone_belongs_to_another_customer",
    )


def _recompute_duplicate_keys(customer: Customer, profile: CustomerProfile, *, changed: set[str]) -> None:
    """The possible-duplicate keys follow the corrected name and fleet, computed as routing computes them; a key
    whose input did not change stays (a customer whose fleet the router never learnt keeps its fleet key)."""
    keys = duplicate_keys(
        name=customer.name,
        region_code=customer.region_code,
        vehicles=_vehicles({"vehicles_in_use": profile.vehicles_in_use or []}),
    )
    if "name" in changed:
        customer.name_county_key = keys.name_county
    if "vehicles_in_use" in changed:
        customer.fleet_city_key = keys.fleet_city


async def customer_file(session: AsyncSession, *, customer_id: str, principal: Principal) -> CustomerFileOut:
    customer = await file_customer(session, customer_id, principal)
    if customer is None:
        raise NotFound("No such customer.")
    return file_out(customer, await profile_of(session, customer_id), principal)


async def remember_profiles(
    session: AsyncSession,
    *,
    submissions: Sequence[LeadSubmitted],
    decided: Sequence[DecidedLead | None],
    now: datetime,
) -> None:
    """The blocks of each accepted record become its customer's profile (a later record of the batch wins)."""
    latest: dict[str, dict[str, Any]] = {}
    for submission, lead in zip(submissions, decided, strict=True):
        if lead is None:
            continue
        blocks = latest.setdefault(lead.customer_id, {})
        for field in PROFILE_FIELDS:
            value = submission.record.get(field)
            if value:
                blocks[field] = value
    if not latest:
        return
    ids = sorted(latest)  # sorted: two batches upserting the same customers wait, never deadlock

    def dumped(customer_id: str, field: str) -> str | None:
        value = latest[customer_id].get(field)
        return None if value is None else orjson.dumps(value).decode()

    await upsert_profiles(
        session,
        ids,
        vehicles=[dumped(i, "vehicles_in_use") for i in ids],
        usage=[dumped(i, "usage") for i in ids],
        intents=[dumped(i, "purchase_intent") for i in ids],
        now=now,
    )
