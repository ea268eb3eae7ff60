"""Confidentiality (domain.md §3 保密, contract.md "Who may do what"): who sees which customer, masked or not.

- hq_admin: every customer, unmasked; hq_analyst: every customer, masked.
- dealer: the customers assigned to it (unmasked while assigned) and the customers it entered a record for
  (masked unless also assigned to it); anything else does not exist for it (404, never 403).
- The customer file (its timeline and corrections) is the assigned dealer's and HQ's: the whole story names other
  dealers' leads, sales and rewards, so an entrant the customer is not assigned to gets 404 for it.
- who protects a customer (`protected_by`, `protection_until`): HQ, and the dealers the customer is with (the one
  it is assigned to, the one protecting it); one rule, `sees_protection`, for the customer view and for the
  protection lookup (review L13). A dealer that only entered a record learns nothing of another dealer's
  protection here, as it learns nothing from the lookup.
- who saw a customer unmasked is logged (`ACCESS_LOG`, leadnet_shared.access_log).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import AccessLogEntry, Customer, RoutedLead
from dedup_router.schemas import CustomerOut
from leadnet_shared.access_log import AccessLog
from leadnet_shared.auth import Principal
from leadnet_shared.masking import mask_address, mask_name, mask_phone
from leadnet_shared.pagination import PageOf, PageParams, fetch_page


def sees_unmasked(customer: Customer, principal: Principal) -> bool:
    """HQ admin always; a dealer only while the customer is assigned to it."""
    return principal.sees_personal_data or (
        principal.role == "dealer"
        and customer.assigned_dealer is not None
        and customer.assigned_dealer == principal.dealer
    )


def sees_protection(customer: Customer, principal: Principal) -> bool:
    """Who is told which dealer protects a customer, and until when: HQ, the assigned and the protecting dealer."""
    return principal.is_hq or (
        principal.role == "dealer"
        and principal.dealer is not None
        and principal.dealer in (customer.assigned_dealer, customer.protected_by)
    )


ACCESS_LOG = AccessLog(AccessLogEntry)


def visible_to(principal: Principal) -> ColumnElement[bool] | None:
    """The SQL condition on `customers` for what a dealer may see; None for HQ (everything)."""
    if principal.is_hq:
        return None
    dealer = principal.dealer or ""
    entered = exists().where(RoutedLead.customer_id == Customer.customer_id, RoutedLead.entered_by == dealer)
    return or_(Customer.assigned_dealer == dealer, entered)


def customer_out(customer: Customer, principal: Principal) -> CustomerOut:
    unmasked = sees_unmasked(customer, principal)
    told = sees_protection(customer, principal)
    return CustomerOut(
        customer_id=customer.customer_id,
        name=customer.name if unmasked else mask_name(customer.name),
        phone=customer.phone if unmasked else mask_phone(customer.phone),
        address=customer.address if unmasked else mask_address(customer.address, customer.region_code),
        region_code=customer.region_code,
        tier=customer.tier,
        nature=customer.nature,
        assigned_dealer=customer.assigned_dealer,
        protected_by=customer.protected_by if told else None,
        protection_until=customer.protection_until if told else None,
        masked=not unmasked,
    )


def visible_customer_query(customer_id: str, principal: Principal) -> Select[Any]:
    """One customer, only if the caller may see it (else no row: the endpoint answers 404)."""
    query = select(Customer).where(Customer.customer_id == customer_id)
    condition = visible_to(principal)
    return query if condition is None else query.where(condition)


async def visible_customer(session: AsyncSession, customer_id: str, principal: Principal) -> Customer | None:
    """The customer, or None when there is none or the caller may not see it (the endpoint answers 404)."""
    customer: Customer | None = (
        await session.execute(visible_customer_query(customer_id, principal))
    ).scalar_one_or_none()
    return customer


async def page_of_visible_customers(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    assigned_dealer: str | None = None,
    hq_queue: bool = False,
) -> PageOf[Customer]:
    """One page of the customers the caller may see, by customer id; optionally only those assigned to a dealer
    or only those waiting in the HQ queue (assigned to no dealer)."""
    query = select(Customer)
    condition = visible_to(principal)
    if condition is not None:
        query = query.where(condition)
    if assigned_dealer:
        query = query.where(Customer.assigned_dealer == assigned_dealer)
    if hq_queue:
        query = query.where(Customer.assigned_dealer.is_(None))
    return await fetch_page(session, query, order=[Customer.customer_id], params=page, changed_at=Customer.updated_at)


def customer_file_query(customer_id: str, principal: Principal) -> Select[Any]:
    """One customer's file (timeline, corrections): HQ, or the dealer it is assigned to; else no row (404)."""
    query = select(Customer).where(Customer.customer_id == customer_id)
    if principal.is_hq:
        return query
    return query.where(Customer.assigned_dealer.is_not(None), Customer.assigned_dealer == (principal.dealer or ""))
